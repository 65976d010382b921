# All of lastmile's dependency lookups, in one place. Used by the build tree and,
# installed next to lastmileConfig.cmake, by find_package(lastmile) consumers.
#
# Defines: lastmile::asio (standalone Asio, header-only), LASTMILE_LLHTTP_TARGET
# (whichever llhttp target the environment provides), and the usual imported
# targets simdjson::simdjson, OpenSSL::SSL/Crypto, ZLIB::ZLIB, SQLite::SQLite3,
# Threads::Threads.
include_guard(GLOBAL)
include(CMakeFindDependencyMacro OPTIONAL)

macro(_lastmile_require pkg)
  if(COMMAND find_dependency AND DEFINED CMAKE_FIND_PACKAGE_NAME)
    find_dependency(${pkg} ${ARGN})
  else()
    find_package(${pkg} ${ARGN} REQUIRED)
  endif()
endmacro()

set(THREADS_PREFER_PTHREAD_FLAG ON)
_lastmile_require(Threads)
_lastmile_require(OpenSSL)
_lastmile_require(ZLIB)
_lastmile_require(SQLite3)
_lastmile_require(simdjson)

# Standalone Asio: a config package (vcpkg: asio::asio) if there is one, else the
# header on the include path (Debian libasio-dev, Conan's include dirs).
if(NOT TARGET lastmile::asio)
  find_package(asio CONFIG QUIET)
  add_library(lastmile::asio INTERFACE IMPORTED)
  if(TARGET asio::asio)
    target_link_libraries(lastmile::asio INTERFACE asio::asio)
  else()
    find_path(LASTMILE_ASIO_INCLUDE_DIR asio.hpp)
    if(NOT LASTMILE_ASIO_INCLUDE_DIR)
      message(FATAL_ERROR "lastmile: standalone Asio (asio.hpp) not found; install libasio-dev")
    endif()
    target_include_directories(lastmile::asio INTERFACE "${LASTMILE_ASIO_INCLUDE_DIR}")
  endif()
  target_compile_definitions(lastmile::asio INTERFACE ASIO_STANDALONE ASIO_NO_DEPRECATED)
  target_link_libraries(lastmile::asio INTERFACE Threads::Threads)
endif()

# llhttp: an installed package under any of its known target names (Conan:
# llhttp::llhttp, vcpkg: llhttp::llhttp_static / llhttp::llhttp_shared). The build
# tree falls back to compiling Debian's node-llhttp C sources (lastmileLlhttp.cmake);
# an installed lastmile ships that static library as lastmile::llhttp.
if(NOT LASTMILE_LLHTTP_TARGET)
  find_package(llhttp CONFIG QUIET)
  foreach(_t llhttp::llhttp llhttp::llhttp_static llhttp::llhttp_shared lastmile::llhttp)
    if(TARGET ${_t})
      set(LASTMILE_LLHTTP_TARGET ${_t})
      break()
    endif()
  endforeach()
endif()
if(NOT LASTMILE_LLHTTP_TARGET)
  include(lastmileLlhttp)
endif()
