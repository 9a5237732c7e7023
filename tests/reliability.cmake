# Reliability tests (fault injection, kill loops, hostile files, concurrency, exit paths); see docs/reliability.md.
# Labels: fault, multiprocess, unit. The long variants are separate executables
# (the same sources built with RTCACHE_RELIABILITY_SLOW) labelled `slow`: they
# run in `make soak`, not in `make test` (ctest -LE slow).

# The child program the tests run as real processes, and a module it dlopens.
add_executable(reliability_child reliability_child.cc fault_env.cc)
target_link_libraries(reliability_child PRIVATE rtcache::rtcache ${CMAKE_DL_LIBS})
target_include_directories(reliability_child PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})

# Linked with its own copy of rtcache (the static library is built PIC). Like
# most C++ modules built by GCC it has STB_GNU_UNIQUE symbols, so the loader
# keeps it loaded after dlclose().
add_library(reliability_plugin MODULE reliability_plugin.cc fault_env.cc)
target_link_libraries(reliability_plugin PRIVATE rtcache::rtcache)
target_include_directories(reliability_plugin PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})

# The same module built from the library's sources without unique symbols, so
# that dlclose() really unloads it (its exit hooks and destructors run then).
list(TRANSFORM RTCACHE_SOURCES PREPEND ${PROJECT_SOURCE_DIR}/ OUTPUT_VARIABLE _rtcache_sources)
add_library(reliability_plugin_unloadable MODULE reliability_plugin.cc fault_env.cc
            ${_rtcache_sources})
target_include_directories(reliability_plugin_unloadable PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}
                           ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(reliability_plugin_unloadable PRIVATE Threads::Threads ${CMAKE_DL_LIBS}
                      PkgConfig::ZSTD PkgConfig::XXHASH)
target_compile_options(reliability_plugin_unloadable PRIVATE
                       $<$<CXX_COMPILER_ID:GNU>:-fno-gnu-unique>)

rtcache_test(NAME fault_test LABELS fault SOURCES fault_test.cc fault_env.cc
             DEPENDS reliability_child)
rtcache_test(NAME kill_test LABELS fault multiprocess SOURCES kill_test.cc fault_env.cc
             DEPENDS reliability_child)
rtcache_test(NAME hostile_test LABELS fault unit SOURCES hostile_test.cc fault_env.cc)
rtcache_test(NAME concurrency_test LABELS multiprocess SOURCES concurrency_test.cc fault_env.cc
             DEPENDS reliability_child)
rtcache_test(NAME exit_paths_test LABELS multiprocess SOURCES exit_paths_test.cc fault_env.cc
             DEPENDS reliability_child reliability_plugin reliability_plugin_unloadable)
rtcache_test(NAME budget_trust_test LABELS unit multiprocess SOURCES budget_trust_test.cc
             fault_env.cc DEPENDS reliability_child)

# The long variants: 1,000 kills, 32 writers x more keys, 100 MB SIGTERM save.
# `slow` comes first: rtcache_test() passes the labels to set_tests_properties
# unquoted, so only the first label of the list reaches the tests.
rtcache_test(NAME kill_slow_test LABELS slow fault multiprocess SOURCES kill_test.cc fault_env.cc
             DEPENDS reliability_child)
rtcache_test(NAME concurrency_slow_test LABELS slow multiprocess SOURCES concurrency_test.cc
             fault_env.cc DEPENDS reliability_child)
rtcache_test(NAME exit_paths_slow_test LABELS slow multiprocess SOURCES exit_paths_test.cc
             fault_env.cc DEPENDS reliability_child reliability_plugin reliability_plugin_unloadable)
foreach(t kill_slow_test concurrency_slow_test exit_paths_slow_test)
  target_compile_definitions(${t} PRIVATE RTCACHE_RELIABILITY_SLOW=1)
endforeach()
