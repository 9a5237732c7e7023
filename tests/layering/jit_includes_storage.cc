// Must compile: a layer sees the layers below it (the control for the
// failing probes, so that they fail for the include alone).
#include "jit/nvrtc.h"
#include "rtcache/engine.h"
#include "storage/format.h"
