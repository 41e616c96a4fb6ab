# bench/lws.cmake: links bench/lws_relay (the libwebsockets baseline of the
# signaling benchmark, docs/benchmarks.md) with libwebsockets. The top
# CMakeLists.txt links every bench executable with w2 only (which brings
# libuv and jansson); include this file after the bench targets exist:
#
#   include(bench/lws.cmake)
#
# Without it lws_relay builds as a stub that says so, and bench/run.sh
# compiles the real one itself, so the build never depends on this file.
pkg_check_modules(LWS IMPORTED_TARGET libwebsockets)
if(TARGET lws_relay AND LWS_FOUND)
  target_link_libraries(lws_relay PRIVATE PkgConfig::LWS)
  target_compile_definitions(lws_relay PRIVATE W2_HAVE_LWS)
endif()
