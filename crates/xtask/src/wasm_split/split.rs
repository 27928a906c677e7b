//! The split itself: primary (profiled functions, stubs) and secondary (the rest).

use std::collections::{BTreeSet, HashMap, HashSet};

use anyhow::{Context, Result};
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, ElementSection, Elements, EntityType, ExportKind, Function,
    FunctionSection, GlobalType, ImportSection, Instruction, Module, RefType, TableType, ValType,
};
use wasmparser::{ElementItems, ExternalKind, Operator};

use super::emit::{self, Extra, Remap};
use super::{Parsed, operators};

/// The two modules and what went where.
pub struct Split {
    /// The module the page loads first.
    pub primary: Vec<u8>,
    /// The module loaded after `joined` (or on a first call into it).
    pub secondary: Vec<u8>,
    /// Defined functions kept in primary.
    pub kept: usize,
    /// Functions moved to secondary.
    pub moved: usize,
    /// Moved functions primary still reaches, each through a stub.
    pub stubs: usize,
    /// The name of each stub's function, by slot (what the loader reports).
    pub slot_names: Vec<String>,
}

/// Bodies up to this many bytes stay in the primary when it reaches them.
const SMALL_BODY: u64 = 64;
/// Rounds of pulling small reached functions in (each can reach more).
const SMALL_ROUNDS: usize = 4;

/// Export names the secondary imports from the primary (namespace `primary`).
const MEMORY: &str = "__wk_m0";
const LAZY_TABLE: &str = "__wk_lazy";
const LOADED: &str = "__wk_loaded";

fn table_export(t: u32) -> String {
    format!("__wk_t{t}")
}
fn global_export(g: u32) -> String {
    format!("__wk_g{g}")
}
/// `$` and the index in base 36: there are thousands of these exports, so short names.
fn function_export(f: u32) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut name = Vec::new();
    let mut rest = f;
    loop {
        name.push(digits[(rest % 36) as usize]);
        rest /= 36;
        if rest == 0 {
            break;
        }
    }
    name.push(b'$');
    name.reverse();
    String::from_utf8(name).expect("ascii")
}

/// Functions a body calls or takes a reference to.
fn referenced(ops: &[Operator]) -> impl Iterator<Item = u32> {
    ops.iter().filter_map(|op| match op {
        Operator::Call { function_index }
        | Operator::ReturnCall { function_index }
        | Operator::RefFunc { function_index } => Some(*function_index),
        _ => None,
    })
}

/// Ops that name data or element segments, which stay in the primary.
fn names_segments(ops: &[Operator]) -> bool {
    ops.iter().any(|op| {
        matches!(
            op,
            Operator::MemoryInit { .. }
                | Operator::DataDrop { .. }
                | Operator::TableInit { .. }
                | Operator::ElemDrop { .. }
        )
    })
}

/// Splits `wasm`: defined functions whose name key is in `keep` stay in the primary module.
pub fn split(wasm: &[u8], keep: &HashSet<u64>) -> Result<Split> {
    let p = Parsed::new(wasm)?;
    let nfi = p.n_func_imports;
    let ops: Vec<Vec<Operator>> = p.bodies.iter().map(operators).collect::<Result<_>>()?;
    let mut kept: Vec<bool> = (0..p.bodies.len())
        .map(|k| names_segments(&ops[k]) || p.key(k).is_some_and(|key| keep.contains(&key)))
        .collect();
    // A small function the primary reaches stays with it: its stub would weigh about as
    // much, and a load that runs it by chance (the profile missed it) needs no secondary.
    for _ in 0..SMALL_ROUNDS {
        let moved = |f: u32| f >= nfi && !kept[(f - nfi) as usize];
        let reached = boundary(&p, &ops, &kept, &moved)?;
        let small: Vec<usize> = reached
            .iter()
            .map(|f| (f - nfi) as usize)
            .filter(|k| p.bodies[*k].range().end - p.bodies[*k].range().start <= SMALL_BODY)
            .collect();
        if small.is_empty() {
            break;
        }
        small.into_iter().for_each(|k| kept[k] = true);
    }
    let moved = |f: u32| f >= nfi && !kept[(f - nfi) as usize];
    let boundary = boundary(&p, &ops, &kept, &moved)?;
    // What the secondary calls in the primary: imports and kept functions.
    let mut needed = BTreeSet::new();
    for (k, body_ops) in ops.iter().enumerate() {
        if !kept[k] {
            needed.extend(referenced(body_ops).filter(|f| !moved(*f)));
        }
    }
    let primary = primary(&p, &ops, &kept, &boundary, &needed)?;
    let secondary = secondary(&p, &ops, &kept, &boundary, &needed)?;
    Ok(Split {
        primary,
        secondary,
        kept: kept.iter().filter(|k| **k).count(),
        moved: kept.iter().filter(|k| !**k).count(),
        stubs: boundary.len(),
        slot_names: boundary
            .iter()
            .map(|f| {
                p.names
                    .get(f)
                    .cloned()
                    .unwrap_or_else(|| format!("function {f}"))
            })
            .collect(),
    })
}

/// Moved functions the primary reaches: from kept code, exports, the start function and
/// element segments (vtables).
fn boundary(
    p: &Parsed,
    ops: &[Vec<Operator>],
    kept: &[bool],
    moved: &dyn Fn(u32) -> bool,
) -> Result<BTreeSet<u32>> {
    let mut reached: Vec<u32> = Vec::new();
    for (k, body_ops) in ops.iter().enumerate() {
        if kept[k] {
            reached.extend(referenced(body_ops));
        }
    }
    reached.extend(
        p.exports
            .iter()
            .filter(|e| e.kind == ExternalKind::Func)
            .map(|e| e.index),
    );
    reached.extend(p.start);
    for element in &p.elements {
        match &element.items {
            ElementItems::Functions(items) => {
                for f in items.clone() {
                    reached.push(f?);
                }
            }
            ElementItems::Expressions(_, items) => {
                for expr in items.clone() {
                    for op in expr?.get_operators_reader() {
                        if let Operator::RefFunc { function_index } = op? {
                            reached.push(function_index);
                        }
                    }
                }
            }
        }
    }
    Ok(reached.into_iter().filter(|f| moved(*f)).collect())
}

fn lazy_table_type(size: usize) -> TableType {
    TableType {
        element_type: RefType::FUNCREF,
        table64: false,
        minimum: size as u64,
        maximum: Some(size as u64),
        shared: false,
    }
}

fn primary(
    p: &Parsed,
    ops: &[Vec<Operator>],
    kept: &[bool],
    boundary: &BTreeSet<u32>,
    needed: &BTreeSet<u32>,
) -> Result<Vec<u8>> {
    let nfi = p.n_func_imports;
    let (types, load_type) = emit::types(p, &[(&[ValType::I32], &[])])?;
    let imports = emit::imports_with(p, "wk", "load", load_type)?;
    let load = nfi;
    // Imports, `wk.load`, then the kept functions and the stubs, in their old order.
    let mut func = vec![u32::MAX; p.func_types.len()];
    func[..nfi as usize]
        .iter_mut()
        .enumerate()
        .for_each(|(f, new)| *new = f as u32);
    let mut present = vec![false; p.bodies.len()];
    let mut next = nfi + 1;
    for (k, keep) in kept.iter().enumerate() {
        let f = k as u32 + nfi;
        if *keep || boundary.contains(&f) {
            present[k] = true;
            func[f as usize] = next;
            next += 1;
        }
    }
    let slot: HashMap<u32, u32> = boundary
        .iter()
        .enumerate()
        .map(|(i, f)| (*f, i as u32))
        .collect();
    let lazy_table = p.table_types.len() as u32;
    let loaded = p.global_types.len() as u32;
    let mut remap = Remap { func };
    let mut code = CodeSection::new();
    for (k, body) in p.bodies.iter().enumerate() {
        let f = k as u32 + nfi;
        if kept[k] {
            let mut function = remap.new_function_with_parsed_locals(body)?;
            for op in &ops[k] {
                function.instruction(&remap.instruction(op.clone())?);
            }
            code.function(&function);
        } else if let Some(slot) = slot.get(&f) {
            code.function(&stub(p, f, *slot, load, loaded, lazy_table)?);
        }
    }
    let mut extra = Extra {
        tables: vec![lazy_table_type(boundary.len())],
        globals: vec![(
            GlobalType {
                val_type: wasm_encoder::ValType::I32,
                mutable: true,
                shared: false,
            },
            ConstExpr::i32_const(0),
        )],
        exports: vec![
            (LOADED.into(), ExportKind::Global, loaded),
            (LAZY_TABLE.into(), ExportKind::Table, lazy_table),
            (MEMORY.into(), ExportKind::Memory, 0),
        ],
        defined: Some(&present),
    };
    for t in 0..lazy_table {
        extra.exports.push((table_export(t), ExportKind::Table, t));
    }
    for g in 0..loaded {
        extra
            .exports
            .push((global_export(g), ExportKind::Global, g));
    }
    for f in needed {
        let index = remap.func[*f as usize];
        extra
            .exports
            .push((function_export(*f), ExportKind::Func, index));
    }
    let mut module = Module::new();
    module.section(&types);
    module.section(&imports);
    emit::rest(&mut module, p, &mut remap, &code, &extra)?;
    Ok(module.finish())
}

/// A moved function's stand-in: load the secondary if it is not yet (telling the loader
/// which slot asked, for the diagnosis of a stale profile), then call the real function
/// through its slot in the lazy table.
fn stub(p: &Parsed, f: u32, slot: u32, load: u32, loaded: u32, table: u32) -> Result<Function> {
    let params = p.func_type(f)?.params().len() as u32;
    let mut function = Function::new([]);
    function.instruction(&Instruction::GlobalGet(loaded));
    function.instruction(&Instruction::I32Eqz);
    function.instruction(&Instruction::If(BlockType::Empty));
    function.instruction(&Instruction::I32Const(slot as i32));
    function.instruction(&Instruction::Call(load));
    function.instruction(&Instruction::End);
    for local in 0..params {
        function.instruction(&Instruction::LocalGet(local));
    }
    function.instruction(&Instruction::I32Const(slot as i32));
    function.instruction(&Instruction::CallIndirect {
        type_index: p.func_types[f as usize],
        table_index: table,
    });
    function.instruction(&Instruction::End);
    Ok(function)
}

fn secondary(
    p: &Parsed,
    ops: &[Vec<Operator>],
    kept: &[bool],
    boundary: &BTreeSet<u32>,
    needed: &BTreeSet<u32>,
) -> Result<Vec<u8>> {
    let nfi = p.n_func_imports;
    let (types, _) = emit::types(p, &[])?;
    let mut imports = ImportSection::new();
    let memory = p.memories.first().context("the module has no memory")?;
    let memory = RoundtripReencoder.memory_type(*memory)?;
    imports.import("primary", MEMORY, EntityType::Memory(memory));
    for (t, ty) in p.table_types.iter().enumerate() {
        let ty = RoundtripReencoder.table_type(*ty)?;
        imports.import("primary", &table_export(t as u32), EntityType::Table(ty));
    }
    let lazy_table = p.table_types.len() as u32;
    let lazy = lazy_table_type(boundary.len());
    imports.import("primary", LAZY_TABLE, EntityType::Table(lazy));
    for (g, ty) in p.global_types.iter().enumerate() {
        let ty = RoundtripReencoder.global_type(*ty)?;
        imports.import("primary", &global_export(g as u32), EntityType::Global(ty));
    }
    // Imported functions first (what the moved code calls in the primary), then its own.
    let mut func = vec![u32::MAX; p.func_types.len()];
    let mut next = 0;
    for f in needed {
        let ty = EntityType::Function(p.func_types[*f as usize]);
        imports.import("primary", &function_export(*f), ty);
        func[*f as usize] = next;
        next += 1;
    }
    let mut functions = FunctionSection::new();
    for (k, keep) in kept.iter().enumerate() {
        if !keep {
            let f = k as u32 + nfi;
            func[f as usize] = next;
            next += 1;
            functions.function(p.func_types[f as usize]);
        }
    }
    let mut elements = ElementSection::new();
    let slots: Vec<u32> = boundary.iter().map(|f| func[*f as usize]).collect();
    elements.active(
        Some(lazy_table),
        &ConstExpr::i32_const(0),
        Elements::Functions(slots.into()),
    );
    let mut remap = Remap { func };
    let mut code = CodeSection::new();
    let mut declared = BTreeSet::new();
    for (k, body) in p.bodies.iter().enumerate() {
        if kept[k] {
            continue;
        }
        let mut function = remap.new_function_with_parsed_locals(body)?;
        for op in &ops[k] {
            if let Operator::RefFunc { function_index } = op {
                declared.insert(remap.func[*function_index as usize]);
            }
            function.instruction(&remap.instruction(op.clone())?);
        }
        code.function(&function);
    }
    if !declared.is_empty() {
        let declared: Vec<u32> = declared.into_iter().collect();
        elements.declared(Elements::Functions(declared.into()));
    }
    let mut module = Module::new();
    module.section(&types);
    module.section(&imports);
    module.section(&functions);
    module.section(&elements);
    module.section(&code);
    Ok(module.finish())
}
