# The Provider interface and its error taxonomy (no I/O).
gpupool_library(gpupool_provider
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/provider.cpp
  PUBLIC_DEPS gpupool_base gpupool_core gpupool_clock)
gpupool_test(provider_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/provider_test.cpp
  DEPS gpupool_provider)
