/* Reads a plugin module's ELF image without loading it: is it a shared object for this
 * machine, and what does the descriptor that main_class names say (ABI, size, id, version)? */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "plugin/descriptor.h"

/* A module is a plugin's code, a few hundred KiB; 64 MiB is past any real one and bounds
 * what `check` reads into memory. */
#define ELF_MODULE_MAX (64u * 1024u * 1024u)
/* Sections and dynamic symbols read; a plugin has dozens of each. The bounds keep a
 * crafted header from making the scan long. */
#define ELF_MAX_SECTIONS 4096u
#define ELF_MAX_SYMBOLS  (1u << 20)

/* image: len bytes of a file. 0 when it is an ELF shared object (ET_DYN) of this process's
 * class, byte order and machine; else -ENOEXEC (not ELF), -EBADMSG (damaged or not a shared
 * object) or -EXDEV (another architecture), each with a sentence in why. */
int elf_check_image(const uint8_t *image, size_t len, char *why, size_t why_cap);

/* Find the defined, exported data object named symbol in image's dynamic symbol table and
 * read it as a struct br_plugin: the integers as stored, the strings through the relocations
 * the loader would apply (pointing into image, NUL-terminated within it). 0 and *ret;
 * -ENOENT when image does not export symbol at all; -EBADMSG with a sentence in why when it
 * does but not as a descriptor (a function, too small, hidden, its strings out of reach) or
 * when the image is damaged. */
int elf_read_descriptor(const uint8_t *image, size_t len, const char *symbol,
                        struct descriptor_facts *ret, char *why, size_t why_cap);

/* Read a module file for the two functions above: a regular file (a symlink is followed, as
 * dlopen follows it: Nix-built plugin directories link into the store) of at most
 * ELF_MODULE_MAX bytes, mapped read-only. -ENOENT, -EBADFD (not a regular file), -ENOEXEC
 * (empty), -EFBIG, or open's error. elf_unmap() releases it. */
int elf_map_file(const char *path, const uint8_t **ret_image, size_t *ret_len);
void elf_unmap(const uint8_t *image, size_t len);
