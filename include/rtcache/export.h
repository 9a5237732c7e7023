// RTCACHE_EXPORT marks the public API. The library is built with hidden
// visibility, so librtcache.so exports exactly what the headers declare and
// nothing of its internals.
#pragma once

#if defined(RTCACHE_BUILDING_LIBRARY)
#define RTCACHE_EXPORT [[gnu::visibility("default")]]
#else
#define RTCACHE_EXPORT
#endif
