//! A tiny builder of x86_64 ET_DYN files for tests. Shared by the unit tests
//! (`mod testelf`) and the fuzz test binary (`#[path]`), so it uses nothing
//! from the crate.
//!
//! Layout of a built file (offsets = virtual addresses for the first
//! segment; the others keep `vaddr ≡ offset (mod 4096)`):
//!
//! - phdr 0: `PT_LOAD` R at vaddr 0: ELF header, program headers, then the
//!   tables (interp, dynstr, dynsym, hash, versym, verdef, verneed, rela,
//!   jmprel);
//! - phdr 1: `PT_LOAD` RX at [`TEXT`]: `text_size` bytes of `ret`;
//! - phdr 2: `PT_LOAD` RW at [`DATA`]: `data`, then init, fini and preinit
//!   arrays, then the dynamic section; `bss` zero bytes after the file part;
//! - phdr 3: `PT_DYNAMIC`; phdr 4: `PT_GNU_STACK`; then `PT_INTERP` and
//!   `PT_GNU_RELRO` if asked for, then `extra_phdrs`.
#![allow(dead_code)]

pub const TEXT: u64 = 0x10000;
pub const DATA: u64 = 0x20000;

pub const R_NONE: u32 = 0;
pub const R_64: u32 = 1;
pub const R_COPY: u32 = 5;
pub const R_GLOB_DAT: u32 = 6;
pub const R_JUMP_SLOT: u32 = 7;
pub const R_RELATIVE: u32 = 8;

pub const STB_LOCAL: u8 = 0;
pub const STB_GLOBAL: u8 = 1;
pub const STB_WEAK: u8 = 2;
pub const STT_NOTYPE: u8 = 0;
pub const STT_OBJECT: u8 = 1;
pub const STT_FUNC: u8 = 2;
pub const STT_TLS: u8 = 6;
pub const STT_GNU_IFUNC: u8 = 10;
pub const STV_HIDDEN: u8 = 2;

/// A dynamic symbol. Index in the file = position in `Builder::symbols` + 1.
#[derive(Clone, Debug)]
pub struct Sym {
    pub name: String,
    pub value: u64,
    pub size: u64,
    pub bind: u8,
    pub stype: u8,
    pub vis: u8,
    /// Section index; 0 = undefined, 0xfff1 = absolute, otherwise "defined".
    pub shndx: u16,
    pub version: Option<String>,
    pub hidden: bool,
}

impl Sym {
    pub fn func(name: &str, value: u64) -> Sym {
        Sym {
            name: name.into(),
            value,
            size: 1,
            bind: STB_GLOBAL,
            stype: STT_FUNC,
            vis: 0,
            shndx: 1,
            version: None,
            hidden: false,
        }
    }
    pub fn object(name: &str, value: u64, size: u64) -> Sym {
        Sym { size, stype: STT_OBJECT, ..Sym::func(name, value) }
    }
    pub fn undef(name: &str) -> Sym {
        Sym { value: 0, size: 0, shndx: 0, ..Sym::func(name, 0) }
    }
    pub fn weak_undef(name: &str) -> Sym {
        Sym { bind: STB_WEAK, stype: STT_NOTYPE, ..Sym::undef(name) }
    }
    pub fn ver(mut self, v: &str) -> Sym {
        self.version = Some(v.into());
        self
    }
    pub fn bind(mut self, b: u8) -> Sym {
        self.bind = b;
        self
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Rela {
    pub offset: u64,
    pub rtype: u32,
    pub sym: u32,
    pub addend: i64,
}

pub fn rela(offset: u64, rtype: u32, sym: u32, addend: i64) -> Rela {
    Rela { offset, rtype, sym, addend }
}

#[derive(Clone, Debug)]
pub struct Builder {
    pub soname: Option<String>,
    pub needed: Vec<String>,
    pub symbols: Vec<Sym>,
    pub rela: Vec<Rela>,
    pub jmprel: Vec<Rela>,
    pub init: Option<u64>,
    pub fini: Option<u64>,
    pub init_array: Vec<u64>,
    pub fini_array: Vec<u64>,
    pub preinit_array: Vec<u64>,
    pub data: Vec<u8>,
    pub bss: u64,
    pub text_size: u64,
    pub entry: u64,
    pub gnu_hash: bool,
    pub verdefs: Vec<String>,
    pub verneeds: Vec<(String, Vec<String>)>,
    pub relro: Option<(u64, u64)>,
    pub interp: Option<String>,
    pub flags: Option<u64>,
    pub flags_1: Option<u64>,
    pub extra_dyn: Vec<(u64, u64)>,
    /// Raw extra program headers: (type, flags, offset, vaddr, filesz, memsz, align).
    pub extra_phdrs: Vec<(u32, u32, u64, u64, u64, u64, u64)>,
    /// Added to every virtual address the builder chooses (segments, tables,
    /// arrays). Symbol values and relocation offsets are taken as given.
    pub vbase: u64,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            soname: None,
            needed: Vec::new(),
            symbols: Vec::new(),
            rela: Vec::new(),
            jmprel: Vec::new(),
            init: None,
            fini: None,
            init_array: Vec::new(),
            fini_array: Vec::new(),
            preinit_array: Vec::new(),
            data: vec![0; 0x100],
            bss: 0,
            text_size: 0x100,
            entry: 0,
            gnu_hash: false,
            verdefs: Vec::new(),
            verneeds: Vec::new(),
            relro: None,
            interp: None,
            flags: None,
            flags_1: None,
            extra_dyn: Vec::new(),
            extra_phdrs: Vec::new(),
            vbase: 0,
        }
    }
}

fn align8(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(8) {
        v.push(0);
    }
}

fn page_ceil(x: u64) -> u64 {
    (x + 0xfff) & !0xfff
}

fn put16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn put32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn put64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

pub const PT_LOAD: u32 = 1;
pub const PT_DYNAMIC: u32 = 2;
pub const PT_INTERP: u32 = 3;
pub const PT_TLS: u32 = 7;
pub const PT_GNU_STACK: u32 = 0x6474_e551;
pub const PT_GNU_RELRO: u32 = 0x6474_e552;

impl Builder {
    /// A library with a soname.
    pub fn lib(soname: &str) -> Builder {
        Builder { soname: Some(soname.into()), ..Builder::default() }
    }

    /// Address of the init array (right after `data`, 8-aligned).
    pub fn init_array_addr(&self) -> u64 {
        self.vbase + DATA + ((self.data.len() as u64 + 7) & !7)
    }
    pub fn fini_array_addr(&self) -> u64 {
        self.init_array_addr() + 8 * self.init_array.len() as u64
    }
    pub fn preinit_array_addr(&self) -> u64 {
        self.fini_array_addr() + 8 * self.fini_array.len() as u64
    }

    /// Version index of version `name` (verdefs first, from 2, then verneeds).
    fn version_index(&self, name: &str) -> u16 {
        let mut idx = 2u16;
        for d in &self.verdefs {
            if d == name {
                return idx;
            }
            idx += 1;
        }
        for (_, names) in &self.verneeds {
            for n in names {
                if n == name {
                    return idx;
                }
                idx += 1;
            }
        }
        panic!("test bug: version {name} not declared");
    }

    pub fn build(&self) -> Vec<u8> {
        // Strings.
        let mut strtab: Vec<u8> = vec![0];
        let mut add_str = |s: &str| -> u32 {
            let off = strtab.len() as u32;
            strtab.extend_from_slice(s.as_bytes());
            strtab.push(0);
            off
        };
        let needed_offs: Vec<u32> = self.needed.iter().map(|n| add_str(n)).collect();
        let soname_off = self.soname.as_deref().map(&mut add_str);
        let sym_name_offs: Vec<u32> = self.symbols.iter().map(|s| add_str(&s.name)).collect();
        let base_name_off = add_str(self.soname.as_deref().unwrap_or("base"));
        let verdef_offs: Vec<u32> = self.verdefs.iter().map(|d| add_str(d)).collect();
        let verneed_offs: Vec<(u32, Vec<u32>)> =
            self.verneeds.iter().map(|(f, ns)| (add_str(f), ns.iter().map(|n| add_str(n)).collect())).collect();

        let nsyms = self.symbols.len() as u32 + 1;
        let versioned = !self.verdefs.is_empty() || !self.verneeds.is_empty();

        // Program headers: 5 fixed + optional.
        let phnum = 5 + self.interp.is_some() as usize + self.relro.is_some() as usize + self.extra_phdrs.len();
        let mut tables: Vec<u8> = Vec::new();
        let tables_base = 64 + 56 * phnum as u64;
        let place = |tables: &mut Vec<u8>, bytes: &[u8]| -> u64 {
            align8(tables);
            let addr = self.vbase + tables_base + tables.len() as u64;
            tables.extend_from_slice(bytes);
            addr
        };

        let interp_addr = self.interp.as_ref().map(|s| {
            let mut b = s.as_bytes().to_vec();
            b.push(0);
            (place(&mut tables, &b), b.len() as u64)
        });
        let strtab_addr = place(&mut tables, &strtab);

        let mut symtab = vec![0u8; 24];
        for (s, &name) in self.symbols.iter().zip(&sym_name_offs) {
            put32(&mut symtab, name);
            symtab.push((s.bind << 4) | s.stype);
            symtab.push(s.vis);
            put16(&mut symtab, s.shndx);
            put64(&mut symtab, s.value);
            put64(&mut symtab, s.size);
        }
        let symtab_addr = place(&mut tables, &symtab);

        let mut hash = Vec::new();
        if self.gnu_hash {
            put32(&mut hash, 1); // nbuckets
            put32(&mut hash, 1); // symoffset
            put32(&mut hash, 1); // bloom size
            put32(&mut hash, 6); // bloom shift
            put64(&mut hash, 0); // bloom
            put32(&mut hash, if nsyms > 1 { 1 } else { 0 });
            for i in 1..nsyms {
                put32(&mut hash, if i == nsyms - 1 { 1 } else { 0 });
            }
        } else {
            put32(&mut hash, 1);
            put32(&mut hash, nsyms);
            put32(&mut hash, 0);
            for _ in 0..nsyms {
                put32(&mut hash, 0);
            }
        }
        let hash_addr = place(&mut tables, &hash);

        let versym_addr = versioned.then(|| {
            let mut v = Vec::new();
            put16(&mut v, 0);
            for s in &self.symbols {
                let mut x = match &s.version {
                    Some(name) => self.version_index(name),
                    None => 1,
                };
                if s.hidden {
                    x |= 0x8000;
                }
                put16(&mut v, x);
            }
            place(&mut tables, &v)
        });

        let verdef_addr = (!self.verdefs.is_empty()).then(|| {
            let mut v = Vec::new();
            let all: Vec<(u16, u16, u32)> = std::iter::once((1u16, 1u16, base_name_off))
                .chain(verdef_offs.iter().enumerate().map(|(k, &o)| (0, k as u16 + 2, o)))
                .collect();
            for (k, &(flags, ndx, name)) in all.iter().enumerate() {
                put16(&mut v, 1);
                put16(&mut v, flags);
                put16(&mut v, ndx);
                put16(&mut v, 1);
                put32(&mut v, 0);
                put32(&mut v, 20);
                put32(&mut v, if k + 1 == all.len() { 0 } else { 28 });
                put32(&mut v, name);
                put32(&mut v, 0);
            }
            (place(&mut tables, &v), all.len() as u64)
        });

        let verneed_addr = (!self.verneeds.is_empty()).then(|| {
            let mut v = Vec::new();
            let mut idx = 2 + self.verdefs.len() as u16;
            for (k, (file, names)) in verneed_offs.iter().enumerate() {
                put16(&mut v, 1);
                put16(&mut v, names.len() as u16);
                put32(&mut v, *file);
                put32(&mut v, 16);
                put32(&mut v, if k + 1 == verneed_offs.len() { 0 } else { 16 + 16 * names.len() as u32 });
                for (j, &n) in names.iter().enumerate() {
                    put32(&mut v, 0);
                    put16(&mut v, 0);
                    put16(&mut v, idx);
                    idx += 1;
                    put32(&mut v, n);
                    put32(&mut v, if j + 1 == names.len() { 0 } else { 16 });
                }
            }
            (place(&mut tables, &v), verneed_offs.len() as u64)
        });

        let relas = |list: &[Rela]| {
            let mut v = Vec::new();
            for r in list {
                put64(&mut v, r.offset);
                put64(&mut v, (u64::from(r.sym) << 32) | u64::from(r.rtype));
                put64(&mut v, r.addend as u64);
            }
            v
        };
        let rela_addr = (!self.rela.is_empty()).then(|| place(&mut tables, &relas(&self.rela)));
        let jmprel_addr = (!self.jmprel.is_empty()).then(|| place(&mut tables, &relas(&self.jmprel)));
        let r_end = tables_base + tables.len() as u64;
        assert!(r_end <= TEXT, "test bug: tables too large");

        // Data segment.
        let mut data = self.data.clone();
        align8(&mut data);
        for &x in self.init_array.iter().chain(&self.fini_array).chain(&self.preinit_array) {
            put64(&mut data, x);
        }
        let dyn_addr = self.vbase + DATA + data.len() as u64;
        let mut dynv: Vec<(u64, u64)> = Vec::new();
        for &o in &needed_offs {
            dynv.push((1, u64::from(o)));
        }
        if let Some(o) = soname_off {
            dynv.push((14, u64::from(o)));
        }
        if let Some(a) = self.init {
            dynv.push((12, a));
        }
        if let Some(a) = self.fini {
            dynv.push((13, a));
        }
        if !self.init_array.is_empty() {
            dynv.push((25, self.init_array_addr()));
            dynv.push((27, 8 * self.init_array.len() as u64));
        }
        if !self.fini_array.is_empty() {
            dynv.push((26, self.fini_array_addr()));
            dynv.push((28, 8 * self.fini_array.len() as u64));
        }
        if !self.preinit_array.is_empty() {
            dynv.push((32, self.preinit_array_addr()));
            dynv.push((33, 8 * self.preinit_array.len() as u64));
        }
        dynv.push((if self.gnu_hash { 0x6fff_fef5 } else { 4 }, hash_addr));
        dynv.push((5, strtab_addr));
        dynv.push((6, symtab_addr));
        dynv.push((10, strtab.len() as u64));
        dynv.push((11, 24));
        if let Some(a) = rela_addr {
            dynv.push((7, a));
            dynv.push((8, 24 * self.rela.len() as u64));
            dynv.push((9, 24));
        }
        if let Some(a) = jmprel_addr {
            dynv.push((23, a));
            dynv.push((2, 24 * self.jmprel.len() as u64));
            dynv.push((20, 7));
        }
        if let Some(a) = versym_addr {
            dynv.push((0x6fff_fff0, a));
        }
        if let Some((a, n)) = verdef_addr {
            dynv.push((0x6fff_fffc, a));
            dynv.push((0x6fff_fffd, n));
        }
        if let Some((a, n)) = verneed_addr {
            dynv.push((0x6fff_fffe, a));
            dynv.push((0x6fff_ffff, n));
        }
        if let Some(f) = self.flags {
            dynv.push((30, f));
        }
        if let Some(f) = self.flags_1 {
            dynv.push((0x6fff_fffb, f));
        }
        dynv.extend_from_slice(&self.extra_dyn);
        dynv.push((0, 0));
        for &(t, v) in &dynv {
            put64(&mut data, t);
            put64(&mut data, v);
        }
        let dyn_size = 16 * dynv.len() as u64;

        // File offsets.
        let text_off = page_ceil(r_end);
        let data_off = page_ceil(text_off + self.text_size);
        let file_len = data_off + data.len() as u64;

        let mut out = Vec::with_capacity(file_len as usize);
        out.extend_from_slice(b"\x7fELF");
        out.extend_from_slice(&[2, 1, 1, 0]);
        out.extend_from_slice(&[0; 8]);
        put16(&mut out, 3); // ET_DYN
        put16(&mut out, 62);
        put32(&mut out, 1);
        put64(&mut out, self.entry);
        put64(&mut out, 64);
        put64(&mut out, 0); // no section headers
        put32(&mut out, 0);
        put16(&mut out, 64);
        put16(&mut out, 56);
        put16(&mut out, phnum as u16);
        put16(&mut out, 64);
        put16(&mut out, 0);
        put16(&mut out, 0);
        let mut ph = |t: u32, f: u32, off: u64, va: u64, fs: u64, ms: u64, al: u64| {
            put32(&mut out, t);
            put32(&mut out, f);
            put64(&mut out, off);
            put64(&mut out, va);
            put64(&mut out, va);
            put64(&mut out, fs);
            put64(&mut out, ms);
            put64(&mut out, al);
        };
        let vb = self.vbase;
        ph(PT_LOAD, 4, 0, vb, r_end, r_end, 0x1000);
        ph(PT_LOAD, 5, text_off, vb + TEXT, self.text_size, self.text_size, 0x1000);
        let dlen = data.len() as u64;
        ph(PT_LOAD, 6, data_off, vb + DATA, dlen, dlen + self.bss, 0x1000);
        ph(PT_DYNAMIC, 6, data_off + (dyn_addr - vb - DATA), dyn_addr, dyn_size, dyn_size, 8);
        ph(PT_GNU_STACK, 6, 0, 0, 0, 0, 16);
        if let Some((a, n)) = interp_addr {
            ph(PT_INTERP, 4, a - vb, a, n, n, 1);
        }
        if let Some((a, n)) = self.relro {
            ph(PT_GNU_RELRO, 4, data_off + (a - vb - DATA), a, n, n, 1);
        }
        for &(t, f, o, v, fs, ms, al) in &self.extra_phdrs {
            ph(t, f, o, v, fs, ms, al);
        }
        assert_eq!(out.len() as u64, tables_base);
        out.extend_from_slice(&tables);
        out.resize(text_off as usize, 0);
        out.resize((text_off + self.text_size) as usize, 0xc3);
        out.resize(data_off as usize, 0);
        out.extend_from_slice(&data);
        out
    }
}

/// File offset of program header `i`.
pub fn phdr(i: usize) -> usize {
    64 + 56 * i
}

pub fn get64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

pub fn set64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

pub fn set32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

pub fn set16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

/// File offset of the value of the first dynamic entry with `tag`.
pub fn dyn_value_offset(b: &[u8], tag: u64) -> Option<usize> {
    let off = get64(b, phdr(3) + 8) as usize;
    let size = get64(b, phdr(3) + 32) as usize;
    (0..size / 16).map(|k| off + 16 * k).find(|&e| get64(b, e) == tag).map(|e| e + 8)
}

/// Sets the value of the first dynamic entry with `tag`.
pub fn set_dyn(b: &mut [u8], tag: u64, value: u64) {
    let off = dyn_value_offset(b, tag).expect("test bug: no such tag");
    set64(b, off, value);
}

/// Changes the tag of the first dynamic entry with `tag`.
pub fn retag(b: &mut [u8], tag: u64, new_tag: u64) {
    let off = dyn_value_offset(b, tag).expect("test bug: no such tag");
    set64(b, off - 8, new_tag);
}
