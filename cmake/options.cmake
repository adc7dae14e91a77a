# SPDX-License-Identifier: Apache-2.0
# Every project target links p2pcp_options (language level, sanitizers) and
# p2pcp_warnings (warnings, as errors by default), so one switch changes all.
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
endif()
