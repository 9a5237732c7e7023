// Must not compile: the cache layer sits below the JIT layer.
#include "jit/nvrtc.h"
