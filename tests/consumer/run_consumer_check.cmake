# ctest -P script: builds and runs the consumer app in MODE add_subdirectory or
# find_package (after installing the lastmile build tree into a temporary prefix).
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(_args -G "${GENERATOR}" -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_BUILD_TYPE=Release)
find_program(_ccache ccache)
if(_ccache)
  list(APPEND _args -DCMAKE_CXX_COMPILER_LAUNCHER=${_ccache} -DCMAKE_C_COMPILER_LAUNCHER=${_ccache})
endif()

function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGV}")
  endif()
endfunction()

if(MODE STREQUAL "find_package")
  set(prefix "${WORK_DIR}/prefix")
  run(${CMAKE_COMMAND} --install "${LASTMILE_BINARY_DIR}" --prefix "${prefix}")
  run(${CMAKE_COMMAND} -S "${CONSUMER_SOURCE_DIR}/find_package" -B "${WORK_DIR}/build"
      ${_args} -DCMAKE_PREFIX_PATH=${prefix})
else()
  run(${CMAKE_COMMAND} -S "${CONSUMER_SOURCE_DIR}/add_subdirectory" -B "${WORK_DIR}/build"
      ${_args} -DLASTMILE_SOURCE_DIR=${LASTMILE_SOURCE_DIR})
endif()
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
run("${WORK_DIR}/build/consumer_app")
