/* version.c — gptc_version and the build details (commit, CUDA architectures), which come from
 * BUILD/gen/build_info.h, written by scripts/gen-build-info.sh at every build (only when its
 * content changes, so an unchanged tree recompiles nothing). */
#include "build_info.h"
#include "gptc.h"

const char *gptc_version(void) {
    return GPTC_VERSION_STRING;
}

const char *gptc_build_commit(void) {
    return GPTC_BUILD_COMMIT;
}

const char *gptc_build_cuda_archs(void) {
#ifdef GPTC_WITH_CUDA
    return GPTC_BUILD_CUDA_ARCHS;
#else
    return "";
#endif
}
