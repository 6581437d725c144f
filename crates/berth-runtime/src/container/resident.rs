//! What the shim keeps resident while it idles beside its container. The shim is the whole
//! `berth` binary re-executed, and creating a container runs through much of it (argument
//! parsing, libcontainer, seccomp); the pages of code and constants that touched stay mapped
//! in the shim for the container's lifetime, ~6 MiB of RSS (BENCHMARKS.md) although serving
//! needs a small part of them. [`release_read_only_segments`] drops this process's mappings
//! of those pages: they stay in the page cache, shared with every other shim, and the few the
//! serving loop runs come back on first touch as minor faults. The same goes for the pages of
//! relocated read-only data (RELRO) that the loader never wrote: `/proc/self/pagemap` tells
//! them (still file pages) from those it did (private copies, which must stay).

/// Unmap from this process every page of the loaded objects' read-only segments (code and
/// constants: `PT_LOAD` without write permission) and the unwritten pages of their RELRO
/// ranges, except in the vDSO and in objects with text relocations (whose read-only pages
/// the loader wrote). Returns the bytes advised.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
pub fn release_read_only_segments() -> usize {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    // SAFETY: dl_iterate_phdr calls `visit` once per loaded object with a pointer valid for
    // that call; `data` is `ranges`, which outlives the iteration.
    unsafe {
        libc::dl_iterate_phdr(
            Some(visit),
            (&mut ranges as *mut Vec<(usize, usize)>).cast(),
        );
    }
    // All ranges are found first and released last, in one go: code run after a release
    // brings its pages back.
    ranges
        .into_iter()
        // SAFETY: `visit` only collects pages of read-only segments and unwritten RELRO
        // pages: private file-backed pages identical to their file.
        .map(|(first, last)| unsafe { unmap(first, last) })
        .sum()
}

/// Elsewhere: nothing released.
#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
pub fn release_read_only_segments() -> usize {
    0
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
unsafe extern "C" fn visit(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: the loader passes a valid `dl_phdr_info` whose `dlpi_phdr` points at
    // `dlpi_phnum` program headers, for the duration of this call.
    let (base, phdrs) = unsafe {
        let info = &*info;
        if info.dlpi_phdr.is_null() {
            return 0;
        }
        (
            info.dlpi_addr as usize,
            std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)),
        )
    };
    // SAFETY: getauxval only reads the auxiliary vector.
    let vdso = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } as usize;
    let loads = || phdrs.iter().filter(|p| p.p_type == libc::PT_LOAD);
    let range = |p: &libc::Elf64_Phdr| {
        let start = base.wrapping_add(p.p_vaddr as usize);
        (start, start.wrapping_add(p.p_memsz as usize))
    };
    if loads().any(|p| {
        let (start, end) = range(p);
        (start..end).contains(&vdso)
    }) {
        return 0;
    }
    // SAFETY: the dynamic section of a loaded object is mapped and ends with DT_NULL.
    if unsafe { has_text_relocations(base, phdrs) } {
        return 0;
    }
    // SAFETY: sysconf only reads a value.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => return 0,
    };
    // SAFETY: `data` is the list `release_read_only_segments` passed.
    let ranges = unsafe { &mut *data.cast::<Vec<(usize, usize)>>() };
    for p in loads().filter(|p| p.p_flags & libc::PF_W == 0) {
        let (start, end) = range(p);
        // Whole pages only: a page shared with a writable neighbour keeps its contents.
        ranges.push((start.div_ceil(page) * page, end / page * page));
    }
    for p in phdrs.iter().filter(|p| p.p_type == libc::PT_GNU_RELRO) {
        // The pages the loader made read-only after relocating (it rounds both ends down):
        // nothing can write them between this look at pagemap and their release, and those
        // still mapped from the file were never written.
        let (start, end) = range(p);
        ranges.extend(file_page_runs(start / page * page, end / page * page, page));
    }
    0
}

/// Unmap `[first, last)` from this process: the bytes advised.
///
/// # Safety
/// The range holds only private file-backed pages identical to the file (never written), so
/// that MADV_DONTNEED, which only unmaps them from this process, loses nothing: the next
/// access reads them again from the page cache.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
unsafe fn unmap(first: usize, last: usize) -> usize {
    if last <= first {
        return 0;
    }
    // SAFETY: as the caller guarantees.
    let advised = unsafe {
        libc::madvise(
            first as *mut libc::c_void,
            last - first,
            libc::MADV_DONTNEED,
        )
    };
    if advised == 0 {
        last - first
    } else {
        0
    }
}

/// The runs of pages in `[first, last)` that are mapped straight from their file (pagemap
/// bit 61: a file page, not a private copy); none when pagemap cannot be read.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn file_page_runs(first: usize, last: usize, page: usize) -> Vec<(usize, usize)> {
    use std::io::{Read, Seek, SeekFrom};
    const PRESENT: u64 = 1 << 63;
    const FILE: u64 = 1 << 61;
    let pages = last.saturating_sub(first) / page;
    let mut entries = vec![0u8; pages * 8];
    let read = std::fs::File::open("/proc/self/pagemap").and_then(|mut f| {
        f.seek(SeekFrom::Start((first / page * 8) as u64))?;
        f.read_exact(&mut entries)
    });
    if read.is_err() {
        return Vec::new();
    }
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, entry) in entries.chunks_exact(8).enumerate() {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(entry);
        let flags = u64::from_ne_bytes(bytes);
        if flags & PRESENT == 0 || flags & FILE == 0 {
            continue;
        }
        let at = first + i * page;
        match runs.last_mut() {
            Some((_, end)) if *end == at => *end = at + page,
            _ => runs.push((at, at + page)),
        }
    }
    runs
}

/// Whether the object's dynamic section asks for text relocations (DT_TEXTREL, or DF_TEXTREL
/// in DT_FLAGS).
///
/// # Safety
/// `base` and `phdrs` describe a loaded object, as `dl_iterate_phdr` reports it.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
unsafe fn has_text_relocations(base: usize, phdrs: &[libc::Elf64_Phdr]) -> bool {
    const DT_NULL: i64 = 0;
    const DT_TEXTREL: i64 = 22;
    const DT_FLAGS: i64 = 30;
    const DF_TEXTREL: u64 = 0x4;
    let Some(dynamic) = phdrs.iter().find(|p| p.p_type == libc::PT_DYNAMIC) else {
        return false;
    };
    /// An entry of the dynamic section (`Elf64_Dyn`).
    #[repr(C)]
    struct Dyn {
        tag: i64,
        value: u64,
    }
    let mut entry = base.wrapping_add(dynamic.p_vaddr as usize) as *const Dyn;
    let count = dynamic.p_memsz as usize / std::mem::size_of::<Dyn>();
    for _ in 0..count {
        // SAFETY: within the mapped dynamic section (at most `count` entries).
        let (tag, value) = unsafe { ((*entry).tag, (*entry).value) };
        match tag {
            DT_NULL => return false,
            DT_TEXTREL => return true,
            DT_FLAGS if value & DF_TEXTREL != 0 => return true,
            _ => {}
        }
        // SAFETY: the next entry is still within the section (bounded by `count`).
        entry = unsafe { entry.add(1) };
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resident_kib() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("RssFile:"))
                    .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            })
            .unwrap_or(0)
    }

    /// The code runs on afterwards (its pages come back), and file-backed RSS falls.
    #[test]
    fn code_pages_are_released_and_come_back_on_use() {
        let before = resident_kib();
        let released = release_read_only_segments();
        let after = resident_kib();
        assert!(released > 0, "nothing released");
        assert!(after < before, "file RSS {before} kB -> {after} kB");
        // Running code and reading constants after the release.
        let text = format!("{:?}", (1..5).map(|n| n * 2).collect::<Vec<_>>());
        assert_eq!(text, "[2, 4, 6, 8]");
        assert!(release_read_only_segments() > 0);
    }
}
