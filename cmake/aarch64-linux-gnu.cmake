# Cross-compile for 64-bit Arm Linux with Debian's cross toolchain
# (apt-get install g++-aarch64-linux-gnu); run the results with qemu-aarch64-static
# (apt-get install qemu-user-static), e.g.
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#         -DFASTMLP_BUILD_PYTHON=OFF -DFASTMLP_BUILD_CPP_TESTS=ON
#   qemu-aarch64-static -L /usr/aarch64-linux-gnu build-arm64/fastmlp_kernel_tests
# .ci/arm64_check does exactly this.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(FASTMLP_CROSS_PREFIX aarch64-linux-gnu- CACHE STRING "cross toolchain prefix")
set(CMAKE_C_COMPILER ${FASTMLP_CROSS_PREFIX}gcc)
set(CMAKE_CXX_COMPILER ${FASTMLP_CROSS_PREFIX}g++)

set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# try_run / tests under emulation
find_program(FASTMLP_QEMU_AARCH64 qemu-aarch64-static)
if(FASTMLP_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${FASTMLP_QEMU_AARCH64} -L /usr/aarch64-linux-gnu)
endif()
