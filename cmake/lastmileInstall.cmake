include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
set(LASTMILE_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/lastmile)

install(DIRECTORY include/lastmile DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set(_lastmile_export_targets lastmile)
if(LASTMILE_LLHTTP_BUILT)
  list(APPEND _lastmile_export_targets lastmile_llhttp)
endif()
install(TARGETS ${_lastmile_export_targets} EXPORT lastmileTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  PUBLIC_HEADER DESTINATION include/lastmile/third_party/llhttp)
install(EXPORT lastmileTargets NAMESPACE lastmile:: DESTINATION ${LASTMILE_CMAKEDIR})

configure_package_config_file(cmake/lastmileConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/lastmileConfig.cmake INSTALL_DESTINATION ${LASTMILE_CMAKEDIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/lastmileConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES
  ${CMAKE_CURRENT_BINARY_DIR}/lastmileConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/lastmileConfigVersion.cmake
  cmake/lastmileDependencies.cmake
  DESTINATION ${LASTMILE_CMAKEDIR})
