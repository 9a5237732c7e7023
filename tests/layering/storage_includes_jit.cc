// Must not compile: the storage layer cannot see the JIT layer's headers.
#include "jit/nvrtc.h"
