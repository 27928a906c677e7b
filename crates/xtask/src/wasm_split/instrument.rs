//! The profiling build: every function reports its first instruction to `wk.mark`.

use anyhow::Result;
use wasm_encoder::reencode::Reencode;
use wasm_encoder::{CodeSection, Instruction, Module, ValType};

use super::emit::{self, Extra, Remap};
use super::{Parsed, operators};

/// `wasm` with `wk.mark(i: i32)` imported and called first thing in every defined function
/// (`i` = its position among the defined functions). The name section is dropped.
pub fn instrument(wasm: &[u8]) -> Result<Vec<u8>> {
    let p = Parsed::new(wasm)?;
    let (types, mark_type) = emit::types(&p, &[(&[ValType::I32], &[])])?;
    let imports = emit::imports_with(&p, "wk", "mark", mark_type)?;
    let mark = p.n_func_imports;
    let shift = |f: u32| if f < p.n_func_imports { f } else { f + 1 };
    let mut remap = Remap {
        func: (0..p.func_types.len() as u32).map(shift).collect(),
    };
    let mut code = CodeSection::new();
    for (k, body) in p.bodies.iter().enumerate() {
        let mut function = remap.new_function_with_parsed_locals(body)?;
        function.instruction(&Instruction::I32Const(k as i32));
        function.instruction(&Instruction::Call(mark));
        for op in operators(body)? {
            function.instruction(&remap.instruction(op)?);
        }
        code.function(&function);
    }
    let mut module = Module::new();
    module.section(&types);
    module.section(&imports);
    emit::rest(&mut module, &p, &mut remap, &code, &Extra::default())?;
    Ok(module.finish())
}
