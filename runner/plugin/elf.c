/* Reads a plugin module's ELF image the way the dynamic loader would, without running any
 * of it: the header (class, byte order, machine, type), the dynamic symbol table, and the
 * descriptor's fields through the load segments and the relative relocations.
 *
 * Why not dlopen: loading runs the module's constructors, and `botrunner check` runs where
 * plugins must not act (at Nix build time, on an operator's laptop). Reading the file proves
 * what dlopen would find: the symbol, its kind, and the integers and strings it holds. What
 * it cannot prove is that the module's own libraries (DT_NEEDED) are installed; the worker's
 * dlopen(RTLD_NOW) at start says so, naming the library.
 *
 * Every offset and size comes from the file and is checked before use: a damaged or crafted
 * image gives an error, never a read outside it (tests/fuzz/fuzz_elf.c). */
#include "plugin/elf.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "botrunner/plugin.h"
#include "util/macro.h"

/* This process's machine, and its two relocation types that fill a pointer: "base address
 * + addend" (a pointer to something of the module's own, such as a string literal) and
 * "symbol's address + addend" (a pointer to an exported symbol). */
#if defined(__x86_64__)
#define HOST_MACHINE  EM_X86_64
#define HOST_RELATIVE R_X86_64_RELATIVE
#define HOST_ABS      R_X86_64_64
#elif defined(__aarch64__)
#define HOST_MACHINE  EM_AARCH64
#define HOST_RELATIVE R_AARCH64_RELATIVE
#define HOST_ABS      R_AARCH64_ABS64
#elif defined(__i386__)
#define HOST_MACHINE  EM_386
#define HOST_RELATIVE R_386_RELATIVE
#define HOST_ABS      R_386_32
#elif defined(__arm__)
#define HOST_MACHINE  EM_ARM
#define HOST_RELATIVE R_ARM_RELATIVE
#define HOST_ABS      R_ARM_ABS32
#elif defined(__riscv)
#define HOST_MACHINE  EM_RISCV
#define HOST_RELATIVE R_RISCV_RELATIVE
#define HOST_ABS      R_RISCV_64
#elif defined(__powerpc64__)
#define HOST_MACHINE  EM_PPC64
#define HOST_RELATIVE R_PPC64_RELATIVE
#define HOST_ABS      R_PPC64_ADDR64
#else
#error "botrunner: add this machine's EM_ and R_*_RELATIVE constants to plugin/elf.c"
#endif

#if __SIZEOF_POINTER__ == 8
#define HOST_CLASS     ELFCLASS64
#define ELF_R_TYPE(i)  ELF64_R_TYPE(i)
#define ELF_R_SYM(i)   ELF64_R_SYM(i)
#define ELF_ST_TYPE(i) ELF64_ST_TYPE(i)
#define ELF_ST_BIND(i) ELF64_ST_BIND(i)
#else
#define HOST_CLASS     ELFCLASS32
#define ELF_R_TYPE(i)  ELF32_R_TYPE(i)
#define ELF_R_SYM(i)   ELF32_R_SYM(i)
#define ELF_ST_TYPE(i) ELF32_ST_TYPE(i)
#define ELF_ST_BIND(i) ELF32_ST_BIND(i)
#endif
#define ELF_ST_VIS(o) ((o) & 0x3)

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_DATA ELFDATA2LSB
#else
#define HOST_DATA ELFDATA2MSB
#endif

/* The image and its headers, once checked. */
struct image {
    const uint8_t *p;
    size_t len;
    ElfW(Ehdr) eh;
};

_printf_(4, 5) static int fail(int r, char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return r;
}

/* Copy size bytes at off, or false when they are not all inside the image. memcpy because
 * a crafted file may put any structure at an unaligned offset. */
static bool read_at(const struct image *im, uint64_t off, size_t size, void *out)
{
    if (off > im->len || size > im->len - off)
        return false;
    memcpy(out, im->p + off, size);
    return true;
}

static const char *machine_name(unsigned m)
{
    switch (m) {
    case EM_X86_64:
        return "x86-64";
    case EM_386:
        return "i386";
    case EM_AARCH64:
        return "AArch64";
    case EM_ARM:
        return "ARM";
    case EM_RISCV:
        return "RISC-V";
    case EM_PPC64:
        return "PowerPC64";
    case EM_S390:
        return "s390";
    default:
        return NULL;
    }
}

static int load_header(struct image *im, const uint8_t *p, size_t len, char *why, size_t cap)
{
    const char *theirs, *ours;

    im->p = p;
    im->len = len;
    if (len < SELFMAG || memcmp(p, ELFMAG, SELFMAG) != 0)
        return fail(-ENOEXEC, why, cap, "not an ELF file");
    if (len < EI_NIDENT)
        return fail(-EBADMSG, why, cap, "truncated ELF header");
    if (p[EI_CLASS] != HOST_CLASS || p[EI_DATA] != HOST_DATA)
        return fail(-EXDEV, why, cap, "an ELF file for another architecture (%d-bit %s-endian)",
                    p[EI_CLASS] == ELFCLASS64 ? 64 : 32,
                    p[EI_DATA] == ELFDATA2MSB ? "big" : "little");
    if (!read_at(im, 0, sizeof(im->eh), &im->eh))
        return fail(-EBADMSG, why, cap, "truncated ELF header");
    if (im->eh.e_machine != HOST_MACHINE) {
        theirs = machine_name(im->eh.e_machine);
        ours = machine_name(HOST_MACHINE);
        if (theirs)
            return fail(-EXDEV, why, cap, "an ELF file for %s, not %s", theirs, ours);
        return fail(-EXDEV, why, cap, "an ELF file for machine %u, not %s", im->eh.e_machine, ours);
    }
    if (im->eh.e_type != ET_DYN)
        return fail(-EBADMSG, why, cap, "an ELF file but not a shared object (type %u)",
                    im->eh.e_type);
    if (im->eh.e_version != EV_CURRENT)
        return fail(-EBADMSG, why, cap, "ELF version %u", (unsigned)im->eh.e_version);
    if (im->eh.e_shentsize != sizeof(ElfW(Shdr)) || im->eh.e_phentsize != sizeof(ElfW(Phdr)))
        return fail(-EBADMSG, why, cap, "ELF header sizes do not match its class");
    if (im->eh.e_shnum == 0 || im->eh.e_shnum > ELF_MAX_SECTIONS)
        return fail(-EBADMSG, why, cap, "%u sections (a shared object has 1..%u)",
                    im->eh.e_shnum, ELF_MAX_SECTIONS);
    return 0;
}

/* A position-independent executable is ET_DYN too, but names its program interpreter, and
 * glibc's dlopen refuses it. */
static int check_not_executable(const struct image *im, char *why, size_t cap)
{
    for (size_t i = 0; i < im->eh.e_phnum; i++) {
        ElfW(Phdr) ph;
        if (!read_at(im, im->eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph), &ph))
            return fail(-EBADMSG, why, cap, "program header %zu is outside the file", i);
        if (ph.p_type == PT_INTERP)
            return fail(-EBADMSG, why, cap, "an executable program, not a shared object");
    }
    return 0;
}

int elf_check_image(const uint8_t *image, size_t len, char *why, size_t cap)
{
    struct image im;
    int r = load_header(&im, image, len, why, cap);

    return r < 0 ? r : check_not_executable(&im, why, cap);
}

static bool section(const struct image *im, size_t i, ElfW(Shdr) *ret)
{
    return i < im->eh.e_shnum &&
           read_at(im, im->eh.e_shoff + (uint64_t)i * sizeof(ElfW(Shdr)), sizeof(*ret), ret);
}

/* The file offset of n bytes at virtual address addr, inside one load segment's file
 * bytes (bytes past p_filesz are zeroes the loader makes, not the file's). */
static bool addr_to_offset(const struct image *im, uint64_t addr, size_t n, uint64_t *ret)
{
    for (size_t i = 0; i < im->eh.e_phnum; i++) {
        ElfW(Phdr) ph;
        if (!read_at(im, im->eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph), &ph))
            return false;
        if (ph.p_type != PT_LOAD || addr < ph.p_vaddr || addr - ph.p_vaddr > ph.p_filesz ||
            n > ph.p_filesz - (addr - ph.p_vaddr))
            continue;
        *ret = ph.p_offset + (addr - ph.p_vaddr);
        return *ret <= im->len && n <= im->len - *ret;
    }
    return false;
}

/* A NUL-terminated string of at most max bytes inside [off, limit). */
static const char *string_at(const struct image *im, uint64_t off, uint64_t limit, size_t max)
{
    size_t n;

    if (limit > im->len || off >= limit)
        return NULL;
    n = limit - off < max ? (size_t)(limit - off) : max;
    return memchr(im->p + off, '\0', n) ? (const char *)im->p + off : NULL;
}

/* The dynamic symbol table and its string table. */
struct dynsym {
    ElfW(Shdr) sym, str;
};

static int find_dynsym(const struct image *im, struct dynsym *ret, char *why, size_t cap)
{
    for (size_t i = 0; i < im->eh.e_shnum; i++) {
        ElfW(Shdr) sh;
        if (!section(im, i, &sh))
            return fail(-EBADMSG, why, cap, "section header %zu is outside the file", i);
        if (sh.sh_type != SHT_DYNSYM)
            continue;
        if (sh.sh_entsize != sizeof(ElfW(Sym)) || sh.sh_size / sizeof(ElfW(Sym)) > ELF_MAX_SYMBOLS ||
            !section(im, sh.sh_link, &ret->str) || ret->str.sh_type != SHT_STRTAB ||
            ret->str.sh_offset > im->len || ret->str.sh_size > im->len - ret->str.sh_offset)
            return fail(-EBADMSG, why, cap, "damaged dynamic symbol table");
        ret->sym = sh;
        return 0;
    }
    return fail(-EBADMSG, why, cap, "no dynamic symbol table: it exports nothing");
}

static int find_symbol(const struct image *im, const struct dynsym *ds, const char *name,
                       ElfW(Sym) *ret, char *why, size_t cap)
{
    uint64_t n = ds->sym.sh_size / sizeof(ElfW(Sym));
    uint64_t str_end = ds->str.sh_offset + ds->str.sh_size;
    size_t name_len = strlen(name);

    for (uint64_t i = 1; i < n; i++) {
        ElfW(Sym) s;
        const char *sname;
        if (!read_at(im, ds->sym.sh_offset + i * sizeof(s), sizeof(s), &s))
            return fail(-EBADMSG, why, cap, "the dynamic symbol table runs past the file");
        if (s.st_shndx == SHN_UNDEF || s.st_name >= ds->str.sh_size)
            continue;
        sname = string_at(im, ds->str.sh_offset + s.st_name, str_end, name_len + 1);
        if (sname && streq(sname, name)) {
            *ret = s;
            return 0;
        }
    }
    return -ENOENT;
}

/* A pointer field once the loader has relocated it. */
struct pointer {
    bool set;      /* non-null: a value in the file, or a relocation fills it */
    bool resolved; /* addr is known (a relative relocation, a symbol of this image, or a
                    * value in the file) */
    uint64_t addr;
};

/* The relocation that fills place, from the RELA sections: the addend of a relative one, or
 * the symbol's address plus the addend when the symbol is defined here (an undefined one
 * comes from another library: set, but not resolved). */
static bool rela_at(const struct image *im, const struct dynsym *ds, uint64_t place,
                    struct pointer *ret)
{
    for (size_t i = 0; i < im->eh.e_shnum; i++) {
        ElfW(Shdr) sh;
        if (!section(im, i, &sh) || sh.sh_type != SHT_RELA || sh.sh_entsize != sizeof(ElfW(Rela)) ||
            sh.sh_size / sizeof(ElfW(Rela)) > ELF_MAX_SYMBOLS * 4)
            continue;
        for (uint64_t j = 0; j < sh.sh_size / sizeof(ElfW(Rela)); j++) {
            ElfW(Rela) r;
            ElfW(Sym) s;
            uint64_t sym;
            if (!read_at(im, sh.sh_offset + j * sizeof(r), sizeof(r), &r))
                return false;
            sym = ELF_R_SYM(r.r_info);
            if (r.r_offset != place)
                continue;
            *ret = (struct pointer){.set = true};
            if (ELF_R_TYPE(r.r_info) == HOST_RELATIVE) {
                ret->resolved = true;
                ret->addr = (uint64_t)r.r_addend;
            } else if (ELF_R_TYPE(r.r_info) == HOST_ABS && sym > 0 &&
                       sym < ds->sym.sh_size / sizeof(s) &&
                       read_at(im, ds->sym.sh_offset + sym * sizeof(s), sizeof(s), &s) &&
                       s.st_shndx != SHN_UNDEF) {
                ret->resolved = true;
                ret->addr = s.st_value + (uint64_t)r.r_addend;
            }
            return true;
        }
    }
    return false;
}

/* REL and RELR keep the addend in the file, so without a RELA entry the value there is the
 * pointer (0 for a field left NULL). */
static struct pointer pointer_at(const struct image *im, const struct dynsym *ds, uint64_t place)
{
    struct pointer p = {0};
    ElfW(Addr) in_file;
    uint64_t off;

    if (rela_at(im, ds, place, &p))
        return p;
    if (addr_to_offset(im, place, sizeof(in_file), &off) && read_at(im, off, sizeof(in_file), &in_file))
        p = (struct pointer){.set = in_file != 0, .resolved = true, .addr = in_file};
    return p;
}

/* The string a descriptor field points to: NULL for a null pointer (the caller reports it);
 * *ok false when the pointer leads outside the file's bytes or to no terminated string. */
static const char *descriptor_string(const struct image *im, const struct dynsym *ds,
                                     uint64_t place, bool *ok)
{
    struct pointer p = pointer_at(im, ds, place);
    uint64_t off;
    const char *s;

    *ok = !p.set;
    if (!p.set || !p.resolved || !addr_to_offset(im, p.addr, 1, &off))
        return NULL;
    s = string_at(im, off, im->len, DESCRIPTOR_STRING_MAX);
    *ok = s != NULL;
    return s;
}

static int read_fields(const struct image *im, const struct dynsym *ds, const ElfW(Sym) *s,
                       const char *symbol, struct descriptor_facts *ret, char *why, size_t cap)
{
    struct descriptor_facts d = {0};
    uint64_t off, base = s->st_value;
    bool ok_id, ok_version;

    if (!addr_to_offset(im, base, offsetof(struct br_plugin, start), &off) ||
        !read_at(im, off + offsetof(struct br_plugin, abi_version), sizeof(d.abi_version),
                 &d.abi_version) ||
        !read_at(im, off + offsetof(struct br_plugin, size), sizeof(d.size), &d.size))
        return fail(-EBADMSG, why, cap, "%s lies outside the file's loaded bytes", symbol);
    d.id = descriptor_string(im, ds, base + offsetof(struct br_plugin, id), &ok_id);
    d.version = descriptor_string(im, ds, base + offsetof(struct br_plugin, version), &ok_version);
    if (!ok_id || !ok_version)
        return fail(-EBADMSG, why, cap, "%s's %s cannot be read from the file", symbol,
                    ok_id ? "version" : "id");
    /* The callbacks only where the descriptor is large enough to hold them. */
    if (s->st_size >= offsetof(struct br_plugin, command) + sizeof(void *)) {
        d.has_start = pointer_at(im, ds, base + offsetof(struct br_plugin, start)).set;
        d.has_stop = pointer_at(im, ds, base + offsetof(struct br_plugin, stop)).set;
        d.has_command = pointer_at(im, ds, base + offsetof(struct br_plugin, command)).set;
    }
    *ret = d;
    return 0;
}

int elf_read_descriptor(const uint8_t *image, size_t len, const char *symbol,
                        struct descriptor_facts *ret, char *why, size_t cap)
{
    struct image im;
    struct dynsym ds;
    ElfW(Sym) s = {0};
    int r;

    r = load_header(&im, image, len, why, cap);
    if (r < 0)
        return r;
    r = find_dynsym(&im, &ds, why, cap);
    if (r < 0)
        return r;
    r = find_symbol(&im, &ds, symbol, &s, why, cap);
    if (r < 0)
        return r;
    if (ELF_ST_TYPE(s.st_info) == STT_FUNC || ELF_ST_TYPE(s.st_info) == STT_GNU_IFUNC)
        return fail(-EBADMSG, why, cap, "%s is a function, not a plugin descriptor "
                    "(declare it with BR_PLUGIN(%s) = {...})", symbol, symbol);
    if (ELF_ST_TYPE(s.st_info) != STT_OBJECT)
        return fail(-EBADMSG, why, cap, "%s is not a data object (symbol type %u)", symbol,
                    ELF_ST_TYPE(s.st_info));
    if ((ELF_ST_BIND(s.st_info) != STB_GLOBAL && ELF_ST_BIND(s.st_info) != STB_WEAK &&
         ELF_ST_BIND(s.st_info) != STB_GNU_UNIQUE) ||
        (ELF_ST_VIS(s.st_other) != STV_DEFAULT && ELF_ST_VIS(s.st_other) != STV_PROTECTED))
        return fail(-EBADMSG, why, cap, "%s is not exported (hidden or local)", symbol);
    if (s.st_size < offsetof(struct br_plugin, start))
        return fail(-EBADMSG, why, cap, "%s is %llu bytes, too small for a plugin descriptor",
                    symbol, (unsigned long long)s.st_size);
    return read_fields(&im, &ds, &s, symbol, ret, why, cap);
}

int elf_map_file(const char *path, const uint8_t **ret_image, size_t *ret_len)
{
    _cleanup_close_ int fd = -EBADF;
    struct stat st;
    void *p;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return negative_errno();
    if (fstat(fd, &st) < 0)
        return negative_errno();
    if (!S_ISREG(st.st_mode))
        return -EBADFD;
    if (st.st_size == 0)
        return -ENOEXEC;
    if ((uint64_t)st.st_size > ELF_MODULE_MAX)
        return -EFBIG;
    p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        return negative_errno();
    *ret_image = p;
    *ret_len = (size_t)st.st_size;
    return 0;
}

void elf_unmap(const uint8_t *image, size_t len)
{
    if (image)
        (void)munmap((void *)image, len);
}
