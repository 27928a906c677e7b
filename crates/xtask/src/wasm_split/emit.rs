//! Writing modules back: the sections both the instrumented and the primary module copy from
//! the input, with function indices renumbered.

use anyhow::Result;
use wasm_encoder::reencode::{Error, Reencode, RoundtripReencoder};
use wasm_encoder::{
    CodeSection, ConstExpr, DataCountSection, DataSection, ElementSection, EntityType, ExportKind,
    ExportSection, FunctionSection, GlobalSection, GlobalType, ImportSection, MemorySection,
    Module, StartSection, TableSection, TableType, TypeSection, ValType,
};
use wasmparser::{ExternalKind, TypeRef};

use super::Parsed;

/// Renumbers functions; everything else keeps its index.
pub struct Remap {
    /// New index of every old function index (`u32::MAX`: gone).
    pub func: Vec<u32>,
}

impl Reencode for Remap {
    type Error = std::convert::Infallible;

    fn function_index(&mut self, func: u32) -> Result<u32, Error<Self::Error>> {
        Ok(self.func[func as usize])
    }
}

/// The input's types plus one function type per `extra`; answers the first extra's index.
pub fn types(p: &Parsed, extra: &[(&[ValType], &[ValType])]) -> Result<(TypeSection, u32)> {
    let mut section = TypeSection::new();
    let mut count = 0;
    for group in &p.types {
        RoundtripReencoder.parse_recursive_type_group(section.ty(), group.clone())?;
        count += group.types().len() as u32;
    }
    for (params, results) in extra {
        section
            .ty()
            .function(params.iter().copied(), results.iter().copied());
    }
    Ok((section, count))
}

/// The input's imports with one more function import after the last function import,
/// so that only defined functions move (by one).
pub fn imports_with(p: &Parsed, module: &str, name: &str, ty: u32) -> Result<ImportSection> {
    let mut section = ImportSection::new();
    let mut functions = 0;
    if p.n_func_imports == 0 {
        section.import(module, name, EntityType::Function(ty));
    }
    for import in &p.imports {
        section.import(
            import.module,
            import.name,
            RoundtripReencoder.entity_type(import.ty)?,
        );
        if matches!(import.ty, TypeRef::Func(_)) {
            functions += 1;
            if functions == p.n_func_imports {
                section.import(module, name, EntityType::Function(ty));
            }
        }
    }
    Ok(section)
}

/// What a rewritten module adds to the input's sections.
#[derive(Default)]
pub struct Extra<'a> {
    pub tables: Vec<TableType>,
    pub globals: Vec<(GlobalType, ConstExpr)>,
    pub exports: Vec<(String, ExportKind, u32)>,
    /// Which defined functions the module keeps (`None`: all).
    pub defined: Option<&'a [bool]>,
}

/// Writes the function, table, memory, global, export, start, element, data count, code
/// and data sections: the input's, renumbered by `remap`, plus `extra`, with `code`.
pub fn rest(
    module: &mut Module,
    p: &Parsed,
    remap: &mut Remap,
    code: &CodeSection,
    extra: &Extra,
) -> Result<()> {
    let mut functions = FunctionSection::new();
    let defined = &p.func_types[p.n_func_imports as usize..];
    for (k, ty) in defined.iter().enumerate() {
        if extra.defined.is_none_or(|keep| keep[k]) {
            functions.function(*ty);
        }
    }
    module.section(&functions);
    let mut tables = TableSection::new();
    for table in &p.tables {
        remap.parse_table(&mut tables, table.clone())?;
    }
    for table in &extra.tables {
        tables.table(*table);
    }
    module.section(&tables);
    let mut memories = MemorySection::new();
    for memory in &p.memories {
        memories.memory(RoundtripReencoder.memory_type(*memory)?);
    }
    module.section(&memories);
    let mut globals = GlobalSection::new();
    for global in &p.globals {
        remap.parse_global(&mut globals, global.clone())?;
    }
    for (ty, init) in &extra.globals {
        globals.global(*ty, init);
    }
    module.section(&globals);
    let mut exports = ExportSection::new();
    for export in &p.exports {
        let index = match export.kind {
            ExternalKind::Func => remap.func[export.index as usize],
            _ => export.index,
        };
        exports.export(
            export.name,
            RoundtripReencoder.export_kind(export.kind)?,
            index,
        );
    }
    for (name, kind, index) in &extra.exports {
        exports.export(name, *kind, *index);
    }
    module.section(&exports);
    if let Some(start) = p.start {
        module.section(&StartSection {
            function_index: remap.func[start as usize],
        });
    }
    let mut elements = ElementSection::new();
    for element in &p.elements {
        remap.parse_element(&mut elements, element.clone())?;
    }
    module.section(&elements);
    if let Some(count) = p.data_count {
        module.section(&DataCountSection { count });
    }
    module.section(code);
    let mut data = DataSection::new();
    for segment in &p.data {
        remap.parse_data(&mut data, segment.clone())?;
    }
    module.section(&data);
    Ok(())
}
