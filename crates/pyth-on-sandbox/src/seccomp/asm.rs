//! A small classic-BPF assembler for the seccomp program: instructions with symbolic jump
//! targets (labels), resolved into the relative offsets BPF wants once the program is laid out.
//!
//! Conditional jumps in classic BPF reach at most 255 instructions forward; a program whose
//! layout needs more is refused ([`SeccompError::Layout`]) rather than truncated.

use seccompiler::sock_filter;

use crate::error::SeccompError;

/// `BPF_LD | BPF_W | BPF_ABS`: load the 32-bit word at an offset of `seccomp_data`.
const LD_W_ABS: u16 = 0x20;
/// `BPF_JMP | BPF_JEQ | BPF_K`.
const JEQ_K: u16 = 0x15;
/// `BPF_JMP | BPF_JGE | BPF_K`.
const JGE_K: u16 = 0x35;
/// `BPF_JMP | BPF_JSET | BPF_K`.
const JSET_K: u16 = 0x45;
/// `BPF_RET | BPF_K`.
const RET_K: u16 = 0x06;

/// Where a conditional jump goes: on to the next instruction, or to a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum To {
    /// The instruction that follows.
    Next,
    /// A label placed somewhere after the jump.
    Label(Label),
}

/// A position in the program, placed once with [`Asm::place`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Label(usize);

/// One instruction and its symbolic jump targets.
#[derive(Debug)]
struct Pending {
    insn: sock_filter,
    jt: To,
    jf: To,
}

/// A program under construction.
#[derive(Debug, Default)]
pub(super) struct Asm {
    insns: Vec<Pending>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    /// A new, unplaced label.
    pub(super) fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Places `label` at the next instruction.
    pub(super) fn place(&mut self, label: Label) {
        self.labels[label.0] = Some(self.insns.len());
    }

    fn push(&mut self, code: u16, k: u32, jt: To, jf: To) {
        let insn = sock_filter {
            code,
            jt: 0,
            jf: 0,
            k,
        };
        self.insns.push(Pending { insn, jt, jf });
    }

    /// `A = seccomp_data[offset..offset + 4]`.
    pub(super) fn load(&mut self, offset: u32) {
        self.push(LD_W_ABS, offset, To::Next, To::Next);
    }

    /// `if A == k goto jt else goto jf`.
    pub(super) fn jeq(&mut self, k: u32, jt: To, jf: To) {
        self.push(JEQ_K, k, jt, jf);
    }

    /// `if A >= k goto jt else goto jf`.
    pub(super) fn jge(&mut self, k: u32, jt: To, jf: To) {
        self.push(JGE_K, k, jt, jf);
    }

    /// `if A & k != 0 goto jt else goto jf`.
    pub(super) fn jset(&mut self, k: u32, jt: To, jf: To) {
        self.push(JSET_K, k, jt, jf);
    }

    /// `return action`.
    pub(super) fn ret(&mut self, action: u32) {
        self.push(RET_K, action, To::Next, To::Next);
    }

    /// The finished program: every jump resolved to its offset.
    pub(super) fn finish(self) -> Result<Vec<sock_filter>, SeccompError> {
        let offset = |from: usize, to: To| -> Result<u8, SeccompError> {
            let To::Label(Label(label)) = to else {
                return Ok(0);
            };
            let target = self.labels[label].ok_or(SeccompError::Layout("a label never placed"))?;
            let distance = target
                .checked_sub(from + 1)
                .ok_or(SeccompError::Layout("a jump backwards"))?;
            u8::try_from(distance).map_err(|_| SeccompError::Layout("a jump beyond 255"))
        };
        let mut out = Vec::with_capacity(self.insns.len());
        for (i, p) in self.insns.iter().enumerate() {
            let mut insn = p.insn.clone();
            insn.jt = offset(i, p.jt)?;
            insn.jf = offset(i, p.jf)?;
            out.push(insn);
        }
        if out.len() > usize::from(u16::MAX) {
            return Err(SeccompError::Layout(
                "more instructions than a program may hold",
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_resolve_to_the_distance_past_the_jump() {
        let mut asm = Asm::default();
        let (yes, no) = (asm.label(), asm.label());
        asm.load(0);
        asm.jeq(7, To::Label(yes), To::Label(no));
        asm.place(no);
        asm.ret(1);
        asm.place(yes);
        asm.ret(2);
        let prog = asm.finish().unwrap();
        assert_eq!((prog[1].jt, prog[1].jf), (1, 0));
    }

    #[test]
    fn a_conditional_jump_too_far_is_refused() {
        let mut asm = Asm::default();
        let far = asm.label();
        asm.jeq(0, To::Label(far), To::Next);
        for _ in 0..256 {
            asm.ret(0);
        }
        asm.place(far);
        asm.ret(1);
        assert!(matches!(asm.finish(), Err(SeccompError::Layout(_))));
    }

    #[test]
    fn an_unplaced_label_is_refused() {
        let mut asm = Asm::default();
        let nowhere = asm.label();
        asm.jeq(0, To::Next, To::Label(nowhere));
        assert!(matches!(asm.finish(), Err(SeccompError::Layout(_))));
    }
}
