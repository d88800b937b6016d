# Shared compile settings and helpers for every target in the tree.

add_library(gpupool_warnings INTERFACE)
target_compile_options(gpupool_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Woverloaded-virtual -Wconversion -Wsign-conversion
  -Wnull-dereference -Wimplicit-fallthrough -Wno-missing-field-initializers)
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  # Lock discipline checked by the compiler (operator/base/thread_annotations.h):
  # touching GUARDED_BY data without its Mutex, or calling a REQUIRES function
  # without it, fails the build. Code that still uses an unannotated std::mutex
  # is invisible to the analysis, so it produces no diagnostics.
  target_compile_options(gpupool_warnings INTERFACE -Wthread-safety -Werror=thread-safety)
endif()

# Link with lld when it is installed (scripts/setup.sh installs it): the ~90
# test executables are large (ASan, debug info), and GNU ld takes about 2.5
# times lld's CPU time on each of them. -DGPUPOOL_LINKER=bfd (or gold) picks
# another linker.
set(GPUPOOL_LINKER "" CACHE STRING "Linker for -fuse-ld= (lld, gold, bfd); empty: lld when installed")
find_program(GPUPOOL_LLD ld.lld)
if(GPUPOOL_LINKER)
  add_link_options(-fuse-ld=${GPUPOOL_LINKER})
elseif(GPUPOOL_LLD)
  add_link_options(-fuse-ld=lld)
endif()

if(GPUPOOL_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

if(GPUPOOL_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "GPUPOOL_FUZZ needs clang (CXX=clang++): libFuzzer is part of clang")
  endif()
  # Coverage for libFuzzer in every library; fuzz/ links the executables with
  # -fsanitize=fuzzer. Two ways to build them:
  #  - with GPUPOOL_SANITIZE (scripts/test.sh): one tree for the tests and the
  #    fuzz targets, so every library is compiled once (a second, fuzz-only
  #    tree used to cost about 4 minutes of CI on 2 cores). Coverage counters
  #    only: the comparison tracing of -fsanitize=fuzzer-no-link made the
  #    CPU-bound tests 50 % slower (SpendProperty.MonthlyCap*: 21.7 s plain,
  #    22.7 s with counters, 32.5 s with fuzzer-no-link), and the CI fuzz run
  #    is a fixed 2000 inputs per target, not a search;
  #  - alone (scripts/fuzz.sh's build-fuzz/, for exploration): full
  #    fuzzer-no-link and ASan+UBSan, at -O1 so long runs are fast; asserts
  #    stay on; line tables (not full debug info) symbolize reports.
  if(GPUPOOL_SANITIZE)
    add_compile_options(-fsanitize-coverage=inline-8bit-counters,pc-table)
  else()
    add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                        -fno-sanitize-recover=undefined -O1 -gline-tables-only)
    add_link_options(-fsanitize=address,undefined)
  endif()
endif()

# gpupool_library(NAME SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# A static library rooted at the repository root for includes, so headers are
# named by their path: #include "operator/core/money.h".
function(gpupool_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE gpupool_warnings ${ARG_PRIVATE_DEPS})
endfunction()

# gpupool_test(NAME SOURCES ... DEPS ... [LABELS ...] [TIMEOUT secs])
# A GoogleTest binary registered with CTest, one CTest entry per test case.
function(gpupool_test name)
  if(NOT GPUPOOL_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(${name} PRIVATE gpupool_warnings ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  # The environment goes through env(1) as the test's launcher: a
  # semicolon-separated ENVIRONMENT property does not survive
  # gtest_discover_tests (only the first variable would reach the test).
  set_target_properties(${name} PROPERTIES CROSSCOMPILING_EMULATOR
    "/usr/bin/env;GPUPOOL_SOURCE_DIR=${PROJECT_SOURCE_DIR};GPUPOOL_BINARY_DIR=${CMAKE_BINARY_DIR}")
  gtest_discover_tests(${name}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
endfunction()
