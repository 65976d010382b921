# Builds llhttp from its C sources when no llhttp package is installed. Debian's
# node-llhttp ships them under /usr/share/llhttp and /usr/share/include/llhttp.
include_guard(GLOBAL)
find_path(LASTMILE_LLHTTP_SOURCE_DIR llhttp.c api.c http.c
  HINTS "${LLHTTP_SOURCE_DIR}" ENV LLHTTP_SOURCE_DIR
  PATHS /usr/share/llhttp /usr/local/share/llhttp NO_DEFAULT_PATH)
find_path(LASTMILE_LLHTTP_INCLUDE_DIR llhttp.h
  HINTS "${LLHTTP_INCLUDE_DIR}" ENV LLHTTP_INCLUDE_DIR
  PATHS /usr/share/include/llhttp /usr/local/share/include/llhttp /usr/include NO_DEFAULT_PATH)
if(NOT LASTMILE_LLHTTP_SOURCE_DIR OR NOT LASTMILE_LLHTTP_INCLUDE_DIR)
  message(FATAL_ERROR "lastmile: llhttp not found: install an llhttp package, or "
                      "Debian's node-llhttp (C sources), or set LLHTTP_SOURCE_DIR/LLHTTP_INCLUDE_DIR")
endif()
add_library(lastmile_llhttp STATIC
  ${LASTMILE_LLHTTP_SOURCE_DIR}/llhttp.c
  ${LASTMILE_LLHTTP_SOURCE_DIR}/api.c
  ${LASTMILE_LLHTTP_SOURCE_DIR}/http.c)
set_target_properties(lastmile_llhttp PROPERTIES
  C_STANDARD 99 POSITION_INDEPENDENT_CODE ON EXPORT_NAME llhttp
  PUBLIC_HEADER "${LASTMILE_LLHTTP_INCLUDE_DIR}/llhttp.h")
target_include_directories(lastmile_llhttp PUBLIC
  $<BUILD_INTERFACE:${LASTMILE_LLHTTP_INCLUDE_DIR}>
  $<INSTALL_INTERFACE:include/lastmile/third_party/llhttp>)
add_library(lastmile::llhttp ALIAS lastmile_llhttp)
set(LASTMILE_LLHTTP_TARGET lastmile_llhttp)
set(LASTMILE_LLHTTP_BUILT ON)
