# Debian packages (CPack, DEB generator), from the install rules of CMakeLists.txt:
#   libevio1     the shared library (libevio.so.1.x.y and its SONAME link libevio.so.1) and
#                its license; Depends computed by dpkg-shlibdeps (libc6, libuv1, libstdc++6…)
#   libevio-dev  evio.h, the libevio.so link, libevio.a, evio.pc, the CMake package and,
#                when `--target docs` was built, the HTML reference; Depends: libevio1 of
#                the same version, libuv1-dev (evio.pc and the static library need it)
# Included before the install rules: those that name no component go to libevio-dev.
#
#   cmake -S . -B build-pkg -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr
#   cmake --build build-pkg && cmake --build build-pkg --target docs
#   cpack --config build-pkg/CPackConfig.cmake -B build-pkg/packages
# (-DCMAKE_INSTALL_PREFIX=/usr gives Debian's multiarch libdir, lib/x86_64-linux-gnu.)
# tests/install/test_deb.sh builds them and uses them from a scratch root.

set(CMAKE_INSTALL_DEFAULT_COMPONENT_NAME dev)

install(FILES ${CMAKE_CURRENT_LIST_DIR}/../LICENSE
  DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/libevio1 RENAME copyright COMPONENT runtime)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/../LICENSE
  DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/libevio-dev RENAME copyright COMPONENT dev)
install(DIRECTORY ${CMAKE_BINARY_DIR}/docs/html/
  DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/libevio-dev/html OPTIONAL COMPONENT dev)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME evio)
set(CPACK_PACKAGE_VENDOR "The evio authors")
set(CPACK_PACKAGE_CONTACT "The evio authors")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_RESOURCE_FILE_LICENSE ${CMAKE_CURRENT_LIST_DIR}/../LICENSE)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_COMPONENT_DEV_DEPENDS runtime)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libevio1)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
  "event-loop networking library with a stable C API (shared library)\n\
evio runs servers on one or more event loops (epoll or libuv) and calls the\n\
program's event callbacks; a C++ core behind a stable C ABI.")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libevio-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libuv1-dev")
set(CPACK_DEBIAN_DEV_DESCRIPTION
  "event-loop networking library with a stable C API (development files)\n\
The header evio.h, the static library, pkg-config and CMake package files,\n\
and the HTML API reference.")

include(CPack)
