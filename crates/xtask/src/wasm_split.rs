//! Splits the page's wasm in two: what runs before `joined`, and the rest, loaded after.
//!
//! binaryen's `wasm-split` does this, but npm's binaryen ships no `wasm-split` and Debian's
//! (108) exports the wrong table for wasm-bindgen's externref table, so this is our own,
//! small implementation of the same scheme on `wasmparser` and `wasm-encoder`:
//!
//! * [`instrument`] adds a call to an imported `wk.mark(i)` at the start of every function;
//!   the page benchmark's profile run records which functions ran up to `joined`
//!   (`cargo xtask page-profile` writes their name keys to `web/page-profile.txt`).
//! * [`split()`] keeps those functions in the **primary** module, which the page loads first.
//!   Every other function moves to the **secondary** (`*_lazy.wasm`). A moved function that
//!   primary code still reaches (a direct call, a table slot, an export) leaves a stub
//!   behind: it makes sure the secondary is loaded (the imported `wk.load`, synchronous)
//!   and calls the real function through a table the secondary fills when instantiated.
//!   The secondary imports primary's memory, tables, globals and the functions it calls.
//!
//! Functions are matched by name (the name section that trunk's wasm-opt keeps with `-g`),
//! with rustc's crate disambiguators dropped so that a profile outlives small changes;
//! a function the profile misses still works, through a synchronous load.

mod emit;
mod instrument;
mod split;

use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use wasmparser::{Operator, Parser, Payload, TypeRef};

pub use instrument::instrument;
pub use split::split;

/// The parts of a core wasm module the splitter rewrites.
#[derive(Default)]
pub(crate) struct Parsed<'a> {
    pub types: Vec<wasmparser::RecGroup>,
    pub imports: Vec<wasmparser::Import<'a>>,
    /// Type index of every function: imported ones first, then defined ones.
    pub func_types: Vec<u32>,
    pub n_func_imports: u32,
    pub table_types: Vec<wasmparser::TableType>,
    pub tables: Vec<wasmparser::Table<'a>>,
    pub memories: Vec<wasmparser::MemoryType>,
    pub global_types: Vec<wasmparser::GlobalType>,
    pub globals: Vec<wasmparser::Global<'a>>,
    pub exports: Vec<wasmparser::Export<'a>>,
    pub start: Option<u32>,
    pub elements: Vec<wasmparser::Element<'a>>,
    pub data_count: Option<u32>,
    pub bodies: Vec<wasmparser::FunctionBody<'a>>,
    pub data: Vec<wasmparser::Data<'a>>,
    /// Function names from the name section, by function index.
    pub names: HashMap<u32, String>,
}

impl<'a> Parsed<'a> {
    /// Parses `wasm`; fails on anything this splitter does not handle (components).
    pub fn new(wasm: &'a [u8]) -> Result<Self> {
        let mut p = Parsed::default();
        for payload in Parser::new(0).parse_all(wasm) {
            p.add(payload.context("the wasm module does not parse")?)?;
        }
        Ok(p)
    }

    fn add(&mut self, payload: Payload<'a>) -> Result<()> {
        match payload {
            Payload::TypeSection(s) => self.types = s.into_iter().collect::<Result<_, _>>()?,
            Payload::ImportSection(s) => {
                for import in s.into_imports() {
                    let import = import?;
                    match import.ty {
                        TypeRef::Func(t) => {
                            self.func_types.push(t);
                            self.n_func_imports += 1;
                        }
                        TypeRef::Table(t) => self.table_types.push(t),
                        TypeRef::Global(g) => self.global_types.push(g),
                        _ => {}
                    }
                    self.imports.push(import);
                }
            }
            Payload::FunctionSection(s) => {
                for t in s {
                    self.func_types.push(t?);
                }
            }
            Payload::TableSection(s) => {
                for t in s {
                    let t = t?;
                    self.table_types.push(t.ty);
                    self.tables.push(t);
                }
            }
            Payload::MemorySection(s) => self.memories = s.into_iter().collect::<Result<_, _>>()?,
            Payload::GlobalSection(s) => {
                for g in s {
                    let g = g?;
                    self.global_types.push(g.ty);
                    self.globals.push(g);
                }
            }
            Payload::ExportSection(s) => self.exports = s.into_iter().collect::<Result<_, _>>()?,
            Payload::StartSection { func, .. } => self.start = Some(func),
            Payload::ElementSection(s) => {
                self.elements = s.into_iter().collect::<Result<_, _>>()?
            }
            Payload::DataCountSection { count, .. } => self.data_count = Some(count),
            Payload::CodeSectionEntry(body) => self.bodies.push(body),
            Payload::DataSection(s) => self.data = s.into_iter().collect::<Result<_, _>>()?,
            Payload::CustomSection(c) => {
                if let wasmparser::KnownCustom::Name(names) = c.as_known() {
                    self.read_names(names)?;
                }
            }
            Payload::TagSection(_) => bail!("the wasm module uses exception tags"),
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => {
                bail!("a component, not a core wasm module")
            }
            _ => {}
        }
        Ok(())
    }

    fn read_names(&mut self, names: wasmparser::NameSectionReader<'a>) -> Result<()> {
        for sub in names {
            if let wasmparser::Name::Function(map) = sub? {
                for naming in map {
                    let naming = naming?;
                    self.names.insert(naming.index, naming.name.to_string());
                }
            }
        }
        Ok(())
    }

    /// The function type of function `func`.
    pub fn func_type(&self, func: u32) -> Result<&wasmparser::FuncType> {
        let wanted = self.func_types[func as usize] as usize;
        let ty = self.types.iter().flat_map(|g| g.types()).nth(wanted);
        ty.and_then(|t| match &t.composite_type.inner {
            wasmparser::CompositeInnerType::Func(f) => Some(f),
            _ => None,
        })
        .with_context(|| format!("function {func} has no function type"))
    }

    /// The name key of defined function `defined` (0 = the first defined function).
    pub fn key(&self, defined: usize) -> Option<u64> {
        let index = defined as u32 + self.n_func_imports;
        self.names.get(&index).map(|name| name_key(name))
    }
}

/// Every operator of `body`.
pub(crate) fn operators<'a>(body: &wasmparser::FunctionBody<'a>) -> Result<Vec<Operator<'a>>> {
    let mut reader = body.get_operators_reader()?;
    let mut ops = Vec::new();
    while !reader.eof() {
        ops.push(reader.read()?);
    }
    Ok(ops)
}

/// A stable key for a function name: FNV-1a of the name without rustc's crate
/// disambiguators (`[8df3b9a31890c29d]`), which change with any dependency's metadata.
pub fn name_key(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        let disambiguator = bytes[i] == b'['
            && bytes.len() > i + 17
            && bytes[i + 17] == b']'
            && bytes[i + 1..i + 17].iter().all(u8::is_ascii_hexdigit);
        if disambiguator {
            i += 18;
            continue;
        }
        hash = (hash ^ u64::from(bytes[i])).wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// `wasm` without its name section (the page ships no names), other sections as they are.
pub fn strip_names(wasm: &[u8]) -> Result<Vec<u8>> {
    let mut module = wasm_encoder::Module::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        if let Payload::CustomSection(c) = &payload
            && c.name() == "name"
        {
            continue;
        }
        if let Some((id, range)) = payload.as_section() {
            module.section(&wasm_encoder::RawSection {
                id,
                data: &wasm[range.start as usize..range.end as usize],
            });
        }
    }
    Ok(module.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{
        CodeSection, ExportKind, ExportSection, Function, FunctionSection, ImportSection,
        IndirectNameMap, Instruction, MemorySection, MemoryType, Module, NameMap, NameSection,
        TypeSection, ValType,
    };

    /// A module with an import, `kept` (exported, calls `moved`) and `moved` (calls the
    /// import), with names.
    fn module() -> Vec<u8> {
        let mut types = TypeSection::new();
        types.ty().function([], [ValType::I32]);
        let mut imports = ImportSection::new();
        imports.import("js", "value", wasm_encoder::EntityType::Function(0));
        let mut functions = FunctionSection::new();
        functions.function(0);
        functions.function(0);
        let mut memory = MemorySection::new();
        memory.memory(MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        let mut exports = ExportSection::new();
        exports.export("kept", ExportKind::Func, 1);
        let mut code = CodeSection::new();
        for callee in [2, 0] {
            let mut body = Function::new([]);
            // Bigger than the 64 bytes under which a reached function stays in the primary.
            for _ in 0..100 {
                body.instruction(&Instruction::Nop);
            }
            body.instruction(&Instruction::Call(callee));
            body.instruction(&Instruction::End);
            code.function(&body);
        }
        let mut names = NameMap::new();
        names.append(0, "value");
        names.append(1, "kept");
        names.append(2, "moved[0123456789abcdef]");
        let mut name_section = NameSection::new();
        name_section.functions(&names);
        name_section.locals(&IndirectNameMap::new());
        let mut module = Module::new();
        module.section(&types).section(&imports).section(&functions);
        module.section(&memory).section(&exports).section(&code);
        module.section(&name_section);
        module.finish()
    }

    #[test]
    fn a_split_gives_two_valid_modules_and_a_stub() {
        let wasm = module();
        let keep = std::collections::HashSet::from([name_key("kept")]);
        let split = split(&wasm, &keep).expect("splits");
        assert_eq!((split.kept, split.moved, split.stubs), (1, 1, 1));
        let mut validator = wasmparser::Validator::new();
        validator
            .validate_all(&split.primary)
            .expect("valid primary");
        let mut validator = wasmparser::Validator::new();
        validator
            .validate_all(&split.secondary)
            .expect("valid secondary");
        let mut validator = wasmparser::Validator::new();
        let instrumented = instrument(&wasm).expect("instruments");
        validator
            .validate_all(&instrumented)
            .expect("valid instrumented");
        assert!(strip_names(&wasm).expect("strips").len() < wasm.len());
    }

    #[test]
    fn name_keys_ignore_crate_disambiguators() {
        let a = name_key("<either[8df3b9a31890c29d]::Either<A>>::left");
        let b = name_key("<either[0123456789abcdef]::Either<A>>::left");
        assert_eq!(a, b);
        assert_ne!(a, name_key("<either[8df3b9a31890c29d]::Either<A>>::right"));
    }
}
