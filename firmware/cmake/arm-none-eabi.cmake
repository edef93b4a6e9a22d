# CMake toolchain file for Debian's arm-none-eabi-gcc (bare-metal Arm, newlib). The CPU
# (-mcpu) is chosen per target in firmware/cross/, so one toolchain serves the Cortex-M0+
# size build and the Cortex-M3 image.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

find_program(SB_ARM_GCC arm-none-eabi-gcc REQUIRED)
set(CMAKE_C_COMPILER ${SB_ARM_GCC})
set(CMAKE_ASM_COMPILER ${SB_ARM_GCC})
find_program(CMAKE_OBJCOPY arm-none-eabi-objcopy REQUIRED)
find_program(CMAKE_SIZE arm-none-eabi-size REQUIRED)

# No operating system to link a test program against.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
