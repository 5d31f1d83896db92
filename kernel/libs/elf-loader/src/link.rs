//! Symbol binding and relocation of a set of loaded objects.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::elf::{
    Elf, FnArray, Perm, Reloc, Symbol, PAGE_SIZE, R_X86_64_64, R_X86_64_COPY, R_X86_64_GLOB_DAT, R_X86_64_JUMP_SLOT,
    R_X86_64_RELATIVE, SHN_ABS, STB_LOCAL, STB_WEAK, STV_HIDDEN, STV_INTERNAL, STV_PROTECTED,
};
use crate::error::{LoadError, MissingSymbol};
use crate::read::{bytes_at, to_usize, u64_at};

/// A symbol the kernel provides itself (its built-in libc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuiltinSymbol<'b> {
    /// Absolute address of the function or object.
    pub address: u64,
    /// Size in bytes of a data object (0 for functions).
    pub size: u64,
    /// The object's initial bytes, needed only when the executable has a COPY
    /// relocation for it (e.g. `optind`, `stdout`); the copy takes the first
    /// `min(size, executable's st_size)` of them.
    pub data: Option<&'b [u8]>,
}

/// The kernel's side of symbol resolution: what it implements itself.
pub trait Builtins {
    /// Looks up `name`. `version` is the version the reference asks for
    /// (`GLIBC_2.2.5` for `malloc@GLIBC_2.2.5`), if it has one; an
    /// implementation may ignore it.
    fn lookup(&self, name: &str, version: Option<&str>) -> Option<BuiltinSymbol<'_>>;

    /// Whether the library `soname` (a `DT_NEEDED` string such as
    /// `libc.so.6`) is built in and must not be loaded from a file.
    fn provides_library(&self, soname: &str) -> bool;
}

/// Store a 64-bit little-endian value at `offset` in the span of `object`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// Index of the object in the linked set.
    pub object: usize,
    /// Offset in that object's span (always inside a writable segment).
    pub offset: u64,
    /// The value.
    pub value: u64,
}

/// Where a COPY relocation takes its bytes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CopySource {
    /// `len` bytes at `offset` in the span of another object of the set.
    Object { object: usize, offset: u64 },
    /// The initial bytes of a builtin data object.
    Bytes(Vec<u8>),
}

/// A COPY relocation: fill `len` bytes at `offset` in the executable's span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyReloc {
    /// Index of the object that has the relocation (always 0, the executable).
    pub object: usize,
    /// Destination offset in its span.
    pub offset: u64,
    /// Number of bytes.
    pub len: u64,
    /// Symbol name (with `@VERSION` if versioned), for diagnostics.
    pub symbol: String,
    /// The source.
    pub source: CopySource,
}

/// One initializer or finalizer call: the absolute address of a function
/// `void f(int argc, char **argv, char **envp)` and the object it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitCall {
    /// Index of the object in the linked set.
    pub object: usize,
    /// Absolute address.
    pub address: u64,
}

/// The result of [`link`]: every relocation resolved to a write or a copy,
/// plus what is needed to run initializers and finalizers.
#[derive(Clone, Debug)]
pub struct LinkPlan<'a> {
    objects: Vec<(&'a Elf<'a>, u64)>,
    /// Per object: its exported definitions, sorted by name (see `Index`).
    indexes: Vec<Index<'a>>,
    /// The writes, objects in reverse load order (libraries before the
    /// executable, as ld.so relocates), each object's `DT_RELA` then
    /// `DT_JMPREL` in table order.
    pub writes: Vec<Write>,
    /// The COPY relocations, applied after all writes.
    pub copies: Vec<CopyReloc>,
    /// Object indexes, dependencies first, the executable last.
    init_order: Vec<usize>,
}

/// The exported definitions of one object: (name, symbol index), sorted by
/// name and, within a name, by preference (non-hidden versions first).
type Index<'a> = Vec<(&'a str, u32)>;

fn build_index<'a>(elf: &Elf<'a>) -> Index<'a> {
    let mut idx: Index<'a> =
        elf.symbols.iter().enumerate().filter(|(_, s)| s.is_exported()).map(|(i, s)| (s.name, i as u32)).collect();
    idx.sort_by(|a, b| {
        let ha = elf.symbols.get(a.1 as usize).is_some_and(|s| s.hidden);
        let hb = elf.symbols.get(b.1 as usize).is_some_and(|s| s.hidden);
        a.0.cmp(b.0).then(ha.cmp(&hb)).then(a.1.cmp(&b.1))
    });
    idx
}

/// The best definition of `name` in one object: an exact version match if
/// the reference is versioned and one exists, else the first non-hidden
/// version, else any.
fn find_in<'a, 'e>(elf: &'e Elf<'a>, index: &Index<'a>, name: &str, version: Option<&str>) -> Option<&'e Symbol<'a>> {
    let start = index.partition_point(|&(n, _)| n < name);
    let candidates = index.get(start..)?.iter().take_while(|&&(n, _)| n == name);
    let mut first = None;
    for &(_, i) in candidates {
        let sym = elf.symbols.get(i as usize)?;
        if version.is_some() && sym.version == version {
            return Some(sym);
        }
        if first.is_none() {
            first = Some(sym);
        }
    }
    first
}

/// Address of a symbol defined in an object loaded at `span_address`.
fn symbol_address(elf: &Elf<'_>, span_address: u64, sym: &Symbol<'_>) -> u64 {
    if sym.shndx == SHN_ABS {
        sym.value
    } else {
        bias(elf, span_address).wrapping_add(sym.value)
    }
}

/// The load bias: what is added to a virtual address of the file.
fn bias(elf: &Elf<'_>, span_address: u64) -> u64 {
    span_address.wrapping_sub(elf.vaddr_base())
}

/// A resolved symbol reference.
enum Resolved<'b> {
    /// Defined in object `object`, at `address`.
    Object { object: usize, address: u64, size: u64 },
    /// A builtin.
    Builtin(BuiltinSymbol<'b>),
    /// Undefined weak: 0.
    Zero,
}

/// Links `objects` — the executable first, then its libraries in load order
/// (see [`crate::load_order`]) — each paired with the address where its span
/// will be (page-aligned). Resolves every relocation like ld.so with
/// immediate binding (see the crate docs for the rules), and fails with one
/// [`LoadError::MissingSymbols`] listing every unresolved non-weak symbol.
pub fn link<'a, 'b>(objects: &[(&'a Elf<'a>, u64)], builtins: &'b dyn Builtins) -> Result<LinkPlan<'a>, LoadError> {
    if objects.is_empty() {
        return Err(LoadError::NoObjects);
    }
    check_spans(objects)?;

    // DT_NEEDED -> object index edges (builtin libraries have none).
    let mut deps: Vec<Vec<usize>> = Vec::with_capacity(objects.len());
    for (elf, _) in objects {
        let mut d = Vec::new();
        for needed in elf.needed() {
            match objects.iter().position(|(o, _)| o.answers_to(needed)) {
                Some(j) => d.push(j),
                None if builtins.provides_library(needed) => {}
                None => {
                    return Err(LoadError::NeededNotLinked {
                        object: String::from(elf.name()),
                        needed: String::from(needed),
                    })
                }
            }
        }
        deps.push(d);
    }

    let indexes: Vec<Index<'a>> = objects.iter().map(|(e, _)| build_index(e)).collect();
    let mut writes = Vec::new();
    let mut copies = Vec::new();
    let mut missing: Vec<MissingSymbol> = Vec::new();

    for (i, &(elf, span_address)) in objects.iter().enumerate().rev() {
        let linker = Linker { objects, indexes: &indexes, builtins };
        for r in &elf.relocs {
            linker.relocate(i, elf, span_address, r, &mut writes, &mut copies, &mut missing)?;
        }
    }

    if !missing.is_empty() {
        missing.sort();
        missing.dedup();
        return Err(LoadError::MissingSymbols(missing));
    }

    Ok(LinkPlan { objects: objects.to_vec(), indexes, writes, copies, init_order: init_order(&deps) })
}

/// Span addresses: page-aligned, not wrapping, not overlapping.
fn check_spans(objects: &[(&Elf<'_>, u64)]) -> Result<(), LoadError> {
    let mut ranges: Vec<(u64, u64, usize)> = Vec::with_capacity(objects.len());
    for (i, (elf, addr)) in objects.iter().enumerate() {
        let end = addr.checked_add(elf.span_size());
        match end {
            Some(end) if addr.is_multiple_of(PAGE_SIZE) => ranges.push((*addr, end, i)),
            _ => return Err(LoadError::BadSpanAddress { object: String::from(elf.name()), address: *addr }),
        }
    }
    ranges.sort_unstable();
    for w in ranges.windows(2) {
        if let [(_, end_a, a), (start_b, _, b)] = w {
            if start_b < end_a {
                let name = |k: &usize| objects.get(*k).map_or_else(String::new, |(e, _)| String::from(e.name()));
                return Err(LoadError::SpanOverlap { first: name(a), second: name(b) });
            }
        }
    }
    Ok(())
}

/// The initialization order of ld.so (`_dl_sort_maps`, depth-first): visit
/// the objects in reverse load order; each visit first visits the object's
/// unvisited dependencies in `DT_NEEDED` order and then records the object.
/// The recorded order has every object after its dependencies (cycles are
/// broken where the walk meets them). As in ld.so the executable is never
/// entered as a dependency, so it comes last.
fn init_order(deps: &[Vec<usize>]) -> Vec<usize> {
    let n = deps.len();
    let mut visited = vec![false; n];
    let mut order = Vec::with_capacity(n);
    // Iterative DFS: (node, next dependency position).
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for root in (0..n).rev() {
        if visited.get(root).copied().unwrap_or(true) {
            continue;
        }
        if let Some(v) = visited.get_mut(root) {
            *v = true;
        }
        stack.push((root, 0));
        while let Some(top) = stack.last_mut() {
            let (node, pos) = *top;
            match deps.get(node).and_then(|d| d.get(pos)) {
                Some(&dep) => {
                    top.1 += 1;
                    if let Some(v) = visited.get_mut(dep) {
                        if !*v && dep != 0 {
                            *v = true;
                            stack.push((dep, 0));
                        }
                    }
                }
                None => {
                    order.push(node);
                    stack.pop();
                }
            }
        }
    }
    // The executable (index 0) is never entered as a dependency, so it is
    // recorded when its own root visit finishes, which is last.
    order
}

struct Linker<'l, 'a, 'b> {
    objects: &'l [(&'a Elf<'a>, u64)],
    indexes: &'l [Index<'a>],
    builtins: &'b dyn Builtins,
}

impl<'a, 'b> Linker<'_, 'a, 'b> {
    /// Resolves a symbol referenced by object `i`. `skip_self` excludes `i`
    /// from the search (COPY relocations).
    fn resolve(&self, i: usize, sym: &Symbol<'a>, skip_self: bool) -> Option<Resolved<'b>> {
        let (elf, span) = *self.objects.get(i)?;
        // Local and hidden symbols bind within their own object; so do
        // protected ones that the object defines (they cannot be interposed).
        let binds_local = sym.bind() == STB_LOCAL
            || matches!(sym.visibility(), STV_HIDDEN | STV_INTERNAL)
            || (sym.visibility() == STV_PROTECTED && sym.is_defined() && !skip_self);
        if binds_local {
            return sym.is_defined().then(|| Resolved::Object {
                object: i,
                address: symbol_address(elf, span, sym),
                size: sym.size,
            });
        }
        let own_first = elf.symbolic && !skip_self;
        let order =
            own_first.then_some(i).into_iter().chain((0..self.objects.len()).filter(|&j| !(skip_self && j == i)));
        for j in order {
            let (other, other_span) = *self.objects.get(j)?;
            let index = self.indexes.get(j)?;
            if let Some(def) = find_in(other, index, sym.name, sym.version) {
                let address = symbol_address(other, other_span, def);
                return Some(Resolved::Object { object: j, address, size: def.size });
            }
        }
        if let Some(b) = self.builtins.lookup(sym.name, sym.version) {
            return Some(Resolved::Builtin(b));
        }
        (sym.bind() == STB_WEAK).then_some(Resolved::Zero)
    }

    #[allow(clippy::too_many_arguments)]
    fn relocate(
        &self,
        i: usize,
        elf: &'a Elf<'a>,
        span_address: u64,
        r: &Reloc,
        writes: &mut Vec<Write>,
        copies: &mut Vec<CopyReloc>,
        missing: &mut Vec<MissingSymbol>,
    ) -> Result<(), LoadError> {
        let write = |value: u64| Write { object: i, offset: r.offset, value };
        if r.rtype == R_X86_64_RELATIVE {
            writes.push(write(bias(elf, span_address).wrapping_add_signed(r.addend)));
            return Ok(());
        }
        if r.rtype == R_X86_64_COPY && i != 0 {
            return Err(LoadError::CopyOutsideExecutable {
                object: String::from(elf.name()),
                table: r.table,
                index: r.index,
            });
        }
        // Symbol 0 means "no symbol": S = 0.
        let sym = match (r.sym, elf.symbols.get(r.sym as usize)) {
            (0, _) | (_, None) => None,
            (_, Some(s)) => Some(s),
        };
        let Some(sym) = sym else {
            if r.rtype == R_X86_64_64 {
                writes.push(write(0u64.wrapping_add_signed(r.addend)));
            } else if matches!(r.rtype, R_X86_64_GLOB_DAT | R_X86_64_JUMP_SLOT) {
                writes.push(write(0));
            }
            return Ok(());
        };
        let resolved = self.resolve(i, sym, r.rtype == R_X86_64_COPY);
        let Some(resolved) = resolved else {
            missing.push(MissingSymbol { object_index: i, symbol: sym.display(), needed_by: String::from(elf.name()) });
            return Ok(());
        };
        match r.rtype {
            R_X86_64_64 | R_X86_64_GLOB_DAT | R_X86_64_JUMP_SLOT => {
                let s = match resolved {
                    Resolved::Object { address, .. } => address,
                    Resolved::Builtin(b) => b.address,
                    Resolved::Zero => 0,
                };
                let value = if r.rtype == R_X86_64_64 { s.wrapping_add_signed(r.addend) } else { s };
                writes.push(write(value));
            }
            R_X86_64_COPY => copies.push(self.copy(elf, r, sym, resolved)?),
            // parse_relocs admitted nothing else; NONE was dropped there.
            _ => {}
        }
        Ok(())
    }

    fn copy(&self, elf: &Elf<'a>, r: &Reloc, sym: &Symbol<'a>, resolved: Resolved<'b>) -> Result<CopyReloc, LoadError> {
        let err = |detail: &str| LoadError::CopySource {
            object: String::from(elf.name()),
            symbol: sym.display(),
            detail: String::from(detail),
        };
        let (len, source) = match resolved {
            Resolved::Object { object, address, size } => {
                let (src, src_span) = *self.objects.get(object).ok_or_else(|| err("no such object"))?;
                let len = size.min(sym.size);
                let offset = address.wrapping_sub(src_span);
                let inside = src.segments().iter().any(|s| {
                    s.perm != Perm::RX
                        && offset >= s.offset
                        && offset.checked_add(len).is_some_and(|e| e <= s.offset.saturating_add(s.mem_size))
                });
                if !inside {
                    return Err(err("the definition is not inside a data segment of the defining object"));
                }
                (len, CopySource::Object { object, offset })
            }
            Resolved::Builtin(b) => {
                let len = b.size.min(sym.size);
                let data = b.data.ok_or_else(|| err("the builtin provides no initial bytes"))?;
                let bytes = to_usize(len)
                    .and_then(|l| bytes_at(data, 0, l))
                    .ok_or_else(|| err("the builtin provides fewer initial bytes than its size"))?;
                (len, CopySource::Bytes(bytes.to_vec()))
            }
            Resolved::Zero => return Err(err("the symbol is an undefined weak symbol")),
        };
        Ok(CopyReloc { object: 0, offset: r.offset, len, symbol: sym.display(), source })
    }
}

impl<'a> LinkPlan<'a> {
    /// The objects, in load order, with their span addresses.
    pub fn objects(&self) -> &[(&'a Elf<'a>, u64)] {
        &self.objects
    }

    /// Object indexes in initialization order (dependencies first, the
    /// executable last). Finalization is the reverse.
    pub fn init_order(&self) -> &[usize] {
        &self.init_order
    }

    /// The address of the first definition of `name` in load order (so for a
    /// COPY-relocated object such as `optind`, the executable's copy), or
    /// `None`. Builtins are not consulted.
    pub fn lookup(&self, name: &str) -> Option<u64> {
        self.objects
            .iter()
            .zip(&self.indexes)
            .find_map(|(&(elf, span), index)| find_in(elf, index, name, None).map(|s| symbol_address(elf, span, s)))
    }

    /// Applies the writes, then the copies, to the spans (one per object, in
    /// the same order as given to [`link`], each already filled by
    /// [`Elf::copy_into`]).
    pub fn apply<S: AsMut<[u8]>>(&self, spans: &mut [S]) -> Result<(), LoadError> {
        self.check_span_lengths(spans.iter_mut().map(|s| s.as_mut().len()))?;
        for w in &self.writes {
            let dst = self.span_range_mut(spans, w.object, w.offset, 8)?;
            dst.copy_from_slice(&w.value.to_le_bytes());
        }
        for c in &self.copies {
            let bytes: Vec<u8> = match &c.source {
                CopySource::Bytes(b) => b.clone(),
                CopySource::Object { object, offset } => self.span_range_mut(spans, *object, *offset, c.len)?.to_vec(),
            };
            let dst = self.span_range_mut(spans, c.object, c.offset, c.len)?;
            if dst.len() != bytes.len() {
                return Err(self.too_short(c.object, dst.len()));
            }
            dst.copy_from_slice(&bytes);
        }
        Ok(())
    }

    /// The initializers to call, in order: the executable's
    /// `DT_PREINIT_ARRAY`, then for each object in [`LinkPlan::init_order`]
    /// its `DT_INIT` followed by its `DT_INIT_ARRAY` entries. Array entries
    /// are read from the relocated `spans` (after [`LinkPlan::apply`]);
    /// entries 0 and -1 are skipped. Every address must be inside an
    /// executable segment of a linked object.
    ///
    /// Note: on Linux, ld.so runs every object's initializers except the
    /// executable's, which `__libc_start_main` runs; the kernel must run the
    /// executable's entries exactly once, either from this list or from its
    /// `__libc_start_main`.
    pub fn initializers<S: AsRef<[u8]>>(&self, spans: &[S]) -> Result<Vec<InitCall>, LoadError> {
        self.check_span_lengths(spans.iter().map(|s| s.as_ref().len()))?;
        let mut out = Vec::new();
        if let Some((exe, _)) = self.objects.first() {
            self.push_array(spans, 0, exe.preinit_array, "DT_PREINIT_ARRAY entry", false, &mut out)?;
        }
        for &i in &self.init_order {
            let Some(&(elf, span)) = self.objects.get(i) else { continue };
            if let Some(off) = elf.init {
                out.push(InitCall { object: i, address: span.wrapping_add(off) });
            }
            self.push_array(spans, i, elf.init_array, "DT_INIT_ARRAY entry", false, &mut out)?;
        }
        Ok(out)
    }

    /// The finalizers to call, in order: the exact reverse of the
    /// initialization order — for each object, executable first, its
    /// `DT_FINI_ARRAY` entries in reverse order, then its `DT_FINI`.
    pub fn finalizers<S: AsRef<[u8]>>(&self, spans: &[S]) -> Result<Vec<InitCall>, LoadError> {
        self.check_span_lengths(spans.iter().map(|s| s.as_ref().len()))?;
        let mut out = Vec::new();
        for &i in self.init_order.iter().rev() {
            let Some(&(elf, span)) = self.objects.get(i) else { continue };
            self.push_array(spans, i, elf.fini_array, "DT_FINI_ARRAY entry", true, &mut out)?;
            if let Some(off) = elf.fini {
                out.push(InitCall { object: i, address: span.wrapping_add(off) });
            }
        }
        Ok(out)
    }

    fn push_array<S: AsRef<[u8]>>(
        &self,
        spans: &[S],
        object: usize,
        array: Option<FnArray>,
        what: &'static str,
        reverse: bool,
        out: &mut Vec<InitCall>,
    ) -> Result<(), LoadError> {
        let Some(array) = array else { return Ok(()) };
        let span = spans.get(object).map(AsRef::as_ref).unwrap_or(&[]);
        let start = out.len();
        for k in 0..array.count {
            let off = k.checked_mul(8).and_then(|o| o.checked_add(array.offset)).and_then(to_usize);
            let address = off.and_then(|o| u64_at(span, o)).ok_or_else(|| self.too_short(object, span.len()))?;
            if address == 0 || address == u64::MAX {
                continue;
            }
            if !self.is_code(address) {
                let name = self.objects.get(object).map_or_else(String::new, |(e, _)| String::from(e.name()));
                return Err(LoadError::BadInitAddress { object: name, what, address });
            }
            out.push(InitCall { object, address });
        }
        if reverse {
            if let Some(tail) = out.get_mut(start..) {
                tail.reverse();
            }
        }
        Ok(())
    }

    /// Whether `address` is inside an executable segment of a linked object.
    fn is_code(&self, address: u64) -> bool {
        self.objects.iter().any(|&(elf, span)| {
            let off = address.wrapping_sub(span);
            elf.segments()
                .iter()
                .any(|s| s.perm == Perm::RX && off >= s.offset && off < s.offset.saturating_add(s.mem_size))
        })
    }

    fn check_span_lengths(&self, lens: impl ExactSizeIterator<Item = usize>) -> Result<(), LoadError> {
        if lens.len() != self.objects.len() {
            return Err(LoadError::SpanCount { expected: self.objects.len(), got: lens.len() });
        }
        for (i, len) in lens.enumerate() {
            let need = self.objects.get(i).map_or(0, |(e, _)| e.span_size());
            if (len as u64) < need {
                return Err(self.too_short(i, len));
            }
        }
        Ok(())
    }

    fn too_short(&self, object: usize, len: usize) -> LoadError {
        let (name, needed) = self
            .objects
            .get(object)
            .map_or_else(|| (String::new(), 0), |(e, _)| (String::from(e.name()), e.span_size()));
        LoadError::SpanTooShort { object: name, len, needed }
    }

    fn span_range_mut<'s, S: AsMut<[u8]>>(
        &self,
        spans: &'s mut [S],
        object: usize,
        offset: u64,
        len: u64,
    ) -> Result<&'s mut [u8], LoadError> {
        let span = spans.get_mut(object).ok_or(LoadError::SpanCount { expected: self.objects.len(), got: object })?;
        let span = span.as_mut();
        let span_len = span.len();
        let range = to_usize(offset).zip(to_usize(len)).and_then(|(o, l)| Some(o..o.checked_add(l)?));
        range.and_then(|r| span.get_mut(r)).ok_or_else(|| self.too_short(object, span_len))
    }
}
