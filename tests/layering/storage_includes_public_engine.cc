// Must not compile: the storage layer cannot see the public engine header.
#include "rtcache/engine.h"
