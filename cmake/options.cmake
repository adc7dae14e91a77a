# SPDX-License-Identifier: Apache-2.0
# Every project target links p2pcp_options (language level, sanitizers) and
# p2pcp_warnings (warnings; as errors in the dev, asan and fuzz presets and in CI), so one
# switch changes all.
add_library(p2pcp_options INTERFACE)
add_library(p2pcp_warnings INTERFACE)

target_compile_features(p2pcp_options INTERFACE cxx_std_20)
# Hardening that a security daemon wants in every build type.
target_compile_options(p2pcp_options INTERFACE -fstack-protector-strong -fPIE)
target_compile_definitions(p2pcp_options INTERFACE $<$<NOT:$<CONFIG:Debug>>:_FORTIFY_SOURCE=2>)
target_link_options(p2pcp_options INTERFACE -pie -Wl,-z,relro,-z,now)

if(P2PCP_SANITIZE)
  target_compile_options(p2pcp_options INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(p2pcp_options INTERFACE -fsanitize=address,undefined)
endif()

# -Wnull-dereference is left out: with -O2, GCC 12 reports false positives inside
# libstdc++ (std::string) that no code of ours can avoid.
target_compile_options(p2pcp_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Wunused -Woverloaded-virtual -Wconversion -Wsign-conversion
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
if(P2PCP_WARNINGS_AS_ERRORS)
  target_compile_options(p2pcp_warnings INTERFACE -Werror)
  # GCC 12's flow analysis at -O2/-O3 reports these three inside libstdc++ on correct
  # code: std::string operator+ (-Wrestrict, GCC bugs 105329 and 105651) and
  # std::vector::insert of a span into a small vector (-Wstringop-overflow and
  # -Warray-bounds, GCC bug 107852). They stay warnings, visible in the log, but
  # cannot fail an optimised build; GCC 13 fixed them.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(p2pcp_warnings INTERFACE
      $<$<NOT:$<CONFIG:Debug>>:-Wno-error=restrict -Wno-error=stringop-overflow -Wno-error=array-bounds>)
  endif()
endif()
