/* What the running CPU and operating system can execute: cpuid, xgetbv and, for
 * AMX, the Linux permission request. The runtime dispatch (attnsearch._dispatch)
 * reads this once at import and loads the best compiled variant of each kernel
 * family.
 *
 * This file is compiled for the x86-64 baseline only (never with a target's
 * -march flags): it must run on every CPU, including those it then rules out.
 * A feature counts only when the OS saves its registers too (XCR0), as NumPy's
 * npy_cpu_features.c and oneDNN's cpu_isa_traits do: a CPU with AVX-512 under a
 * kernel that does not enable the ZMM state cannot run AVX-512 code.
 *
 * Bits: Intel SDM vol. 2A, CPUID; leaf 7 sub-leaf 1 EAX for AVX512_BF16 and
 * AVX_VNNI; leaf 7 EDX for AMX and AVX512_FP16; XCR0 bits 1-2 (SSE/AVX),
 * 5-7 (opmask/ZMM), 17-18 (TILECFG/TILEDATA). */
#ifndef ATTNSEARCH_CPU_H
#define ATTNSEARCH_CPU_H

#include <stdint.h>

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define ATTNSEARCH_CPU_X86 1
#include <cpuid.h>
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#define ATTNSEARCH_CPU_X86 1
#include <intrin.h>
#else
#define ATTNSEARCH_CPU_X86 0
#endif

/* One entry per feature the targets name (src/attnsearch/_cpu_targets.py). */
enum {
    ATTNSEARCH_CPU_SSE2 = 0,
    ATTNSEARCH_CPU_SSE3,
    ATTNSEARCH_CPU_SSSE3,
    ATTNSEARCH_CPU_SSE4_1,
    ATTNSEARCH_CPU_SSE4_2,
    ATTNSEARCH_CPU_POPCNT,
    ATTNSEARCH_CPU_CX16,
    ATTNSEARCH_CPU_LAHF_LM,
    ATTNSEARCH_CPU_AVX,
    ATTNSEARCH_CPU_AVX2,
    ATTNSEARCH_CPU_FMA,
    ATTNSEARCH_CPU_F16C,
    ATTNSEARCH_CPU_BMI1,
    ATTNSEARCH_CPU_BMI2,
    ATTNSEARCH_CPU_LZCNT,
    ATTNSEARCH_CPU_MOVBE,
    ATTNSEARCH_CPU_XSAVE,
    ATTNSEARCH_CPU_AVX512F,
    ATTNSEARCH_CPU_AVX512CD,
    ATTNSEARCH_CPU_AVX512BW,
    ATTNSEARCH_CPU_AVX512DQ,
    ATTNSEARCH_CPU_AVX512VL,
    ATTNSEARCH_CPU_AVX512_VNNI,
    ATTNSEARCH_CPU_AVX512_BF16,
    ATTNSEARCH_CPU_AVX512_FP16,
    ATTNSEARCH_CPU_AVX_VNNI,
    ATTNSEARCH_CPU_AMX_TILE,
    ATTNSEARCH_CPU_AMX_BF16,
    ATTNSEARCH_CPU_AMX_INT8,
    ATTNSEARCH_CPU_OS_AVX,     /* XCR0 saves XMM and YMM */
    ATTNSEARCH_CPU_OS_AVX512,  /* XCR0 saves opmask and ZMM */
    ATTNSEARCH_CPU_OS_AMX,     /* XCR0 saves TILECFG and TILEDATA */
    ATTNSEARCH_CPU_N_FEATURES
};

static const char *const attnsearch_cpu_feature_names[ATTNSEARCH_CPU_N_FEATURES] = {
    "sse2", "sse3", "ssse3", "sse4_1", "sse4_2", "popcnt", "cx16", "lahf_lm",
    "avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "lzcnt", "movbe", "xsave",
    "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni",
    "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8",
    "os_avx", "os_avx512", "os_amx",
};

/* Callers pass a 64-entry buffer. */
typedef char attnsearch_cpu_features_fit_in_64[ATTNSEARCH_CPU_N_FEATURES <= 64 ? 1 : -1];

#if ATTNSEARCH_CPU_X86
static void attnsearch_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t r[4])
{
#if defined(_MSC_VER)
    int regs[4];
    __cpuidex(regs, (int)leaf, (int)subleaf);
    for (int i = 0; i < 4; i++) r[i] = (uint32_t)regs[i];
#else
    __cpuid_count(leaf, subleaf, r[0], r[1], r[2], r[3]);
#endif
}

static uint64_t attnsearch_xgetbv0(void)
{
#if defined(_MSC_VER)
    return (uint64_t)_xgetbv(0);
#else
    uint32_t eax, edx;
    /* The opcode, not the mnemonic: assemblers of old toolchains lack it. */
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
#endif
}
#endif

#define ATTNSEARCH_CPU_BIT(reg, bit) (((reg) >> (bit)) & 1u)

/* Fill has[0:ATTNSEARCH_CPU_N_FEATURES] with 0/1. AVX-class features are
 * reported as present only when the OS saves their registers. */
static void attnsearch_cpu_detect(uint8_t *has)
{
    for (int i = 0; i < ATTNSEARCH_CPU_N_FEATURES; i++) has[i] = 0;
#if ATTNSEARCH_CPU_X86
    uint32_t r[4], max_leaf, max_ext;
    attnsearch_cpuid(0, 0, r);
    max_leaf = r[0];
    if (max_leaf < 1) return;
    attnsearch_cpuid(1, 0, r);
    uint32_t ecx1 = r[2], edx1 = r[3];
    has[ATTNSEARCH_CPU_SSE2] = ATTNSEARCH_CPU_BIT(edx1, 26);
    has[ATTNSEARCH_CPU_SSE3] = ATTNSEARCH_CPU_BIT(ecx1, 0);
    has[ATTNSEARCH_CPU_SSSE3] = ATTNSEARCH_CPU_BIT(ecx1, 9);
    has[ATTNSEARCH_CPU_FMA] = ATTNSEARCH_CPU_BIT(ecx1, 12);
    has[ATTNSEARCH_CPU_CX16] = ATTNSEARCH_CPU_BIT(ecx1, 13);
    has[ATTNSEARCH_CPU_SSE4_1] = ATTNSEARCH_CPU_BIT(ecx1, 19);
    has[ATTNSEARCH_CPU_SSE4_2] = ATTNSEARCH_CPU_BIT(ecx1, 20);
    has[ATTNSEARCH_CPU_MOVBE] = ATTNSEARCH_CPU_BIT(ecx1, 22);
    has[ATTNSEARCH_CPU_POPCNT] = ATTNSEARCH_CPU_BIT(ecx1, 23);
    has[ATTNSEARCH_CPU_XSAVE] = ATTNSEARCH_CPU_BIT(ecx1, 26);
    has[ATTNSEARCH_CPU_AVX] = ATTNSEARCH_CPU_BIT(ecx1, 28);
    has[ATTNSEARCH_CPU_F16C] = ATTNSEARCH_CPU_BIT(ecx1, 29);

    uint64_t xcr0 = 0;
    if (ATTNSEARCH_CPU_BIT(ecx1, 27)) xcr0 = attnsearch_xgetbv0(); /* OSXSAVE */
    int os_avx = (xcr0 & 0x6) == 0x6;
    int os_avx512 = os_avx && (xcr0 & 0xE0) == 0xE0;
    int os_amx = (xcr0 & 0x60000) == 0x60000;
    has[ATTNSEARCH_CPU_OS_AVX] = (uint8_t)os_avx;
    has[ATTNSEARCH_CPU_OS_AVX512] = (uint8_t)os_avx512;
    has[ATTNSEARCH_CPU_OS_AMX] = (uint8_t)os_amx;
    if (!os_avx) {
        /* VEX-encoded instructions fault without the YMM state. */
        has[ATTNSEARCH_CPU_AVX] = has[ATTNSEARCH_CPU_FMA] = has[ATTNSEARCH_CPU_F16C] = 0;
    }

    if (max_leaf >= 7) {
        attnsearch_cpuid(7, 0, r);
        uint32_t max_sub7 = r[0], ebx7 = r[1], ecx7 = r[2], edx7 = r[3];
        has[ATTNSEARCH_CPU_BMI1] = ATTNSEARCH_CPU_BIT(ebx7, 3);
        has[ATTNSEARCH_CPU_BMI2] = ATTNSEARCH_CPU_BIT(ebx7, 8);
        if (os_avx) has[ATTNSEARCH_CPU_AVX2] = ATTNSEARCH_CPU_BIT(ebx7, 5);
        if (os_avx512) {
            has[ATTNSEARCH_CPU_AVX512F] = ATTNSEARCH_CPU_BIT(ebx7, 16);
            has[ATTNSEARCH_CPU_AVX512DQ] = ATTNSEARCH_CPU_BIT(ebx7, 17);
            has[ATTNSEARCH_CPU_AVX512CD] = ATTNSEARCH_CPU_BIT(ebx7, 28);
            has[ATTNSEARCH_CPU_AVX512BW] = ATTNSEARCH_CPU_BIT(ebx7, 30);
            has[ATTNSEARCH_CPU_AVX512VL] = ATTNSEARCH_CPU_BIT(ebx7, 31);
            has[ATTNSEARCH_CPU_AVX512_VNNI] = ATTNSEARCH_CPU_BIT(ecx7, 11);
            has[ATTNSEARCH_CPU_AVX512_FP16] = ATTNSEARCH_CPU_BIT(edx7, 23);
        }
        if (os_amx) {
            has[ATTNSEARCH_CPU_AMX_BF16] = ATTNSEARCH_CPU_BIT(edx7, 22);
            has[ATTNSEARCH_CPU_AMX_TILE] = ATTNSEARCH_CPU_BIT(edx7, 24);
            has[ATTNSEARCH_CPU_AMX_INT8] = ATTNSEARCH_CPU_BIT(edx7, 25);
        }
        if (max_sub7 >= 1) {
            attnsearch_cpuid(7, 1, r);
            if (os_avx) has[ATTNSEARCH_CPU_AVX_VNNI] = ATTNSEARCH_CPU_BIT(r[0], 4);
            if (os_avx512) has[ATTNSEARCH_CPU_AVX512_BF16] = ATTNSEARCH_CPU_BIT(r[0], 5);
        }
    }

    attnsearch_cpuid(0x80000000u, 0, r);
    max_ext = r[0];
    if (max_ext >= 0x80000001u) {
        attnsearch_cpuid(0x80000001u, 0, r);
        has[ATTNSEARCH_CPU_LAHF_LM] = ATTNSEARCH_CPU_BIT(r[2], 0);
        has[ATTNSEARCH_CPU_LZCNT] = ATTNSEARCH_CPU_BIT(r[2], 5);
    }
#endif
}

/* The CPU's brand string ("" where cpuid has none); buf holds 49 bytes. */
static void attnsearch_cpu_brand(char *buf)
{
    buf[0] = 0;
#if ATTNSEARCH_CPU_X86
    uint32_t r[4];
    attnsearch_cpuid(0x80000000u, 0, r);
    if (r[0] < 0x80000004u) return;
    for (uint32_t leaf = 0; leaf < 3; leaf++) {
        attnsearch_cpuid(0x80000002u + leaf, 0, r);
        for (int i = 0; i < 4; i++)
            for (int b = 0; b < 4; b++) buf[leaf * 16 + i * 4 + b] = (char)(r[i] >> (8 * b));
    }
    buf[48] = 0;
#endif
}

/* Ask Linux for the AMX tile-data state (ARCH_REQ_XCOMP_PERM, XFEATURE 18).
 * Without it the first tile instruction kills the process with SIGILL even on
 * a CPU with AMX. The grant is process-wide and permanent, so asking twice is
 * harmless. Returns 1 when the permission is held afterwards. */
static int attnsearch_cpu_request_amx(void)
{
#if defined(__linux__) && defined(SYS_arch_prctl) && ATTNSEARCH_CPU_X86
    const long ARCH_GET_XCOMP_PERM = 0x1022, ARCH_REQ_XCOMP_PERM = 0x1023;
    const unsigned long XFEATURE_XTILEDATA = 18;
    unsigned long permitted = 0;
    syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA);
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &permitted) != 0) return 0;
    return (int)((permitted >> XFEATURE_XTILEDATA) & 1u);
#else
    return 0;
#endif
}

#endif
