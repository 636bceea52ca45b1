//! An AS-Waksman permutation network (Beauquier and Darrot, 2002; libsnark's
//! `as_waksman_routing_gadget`): rows of field elements in one order, the same rows in another,
//! and nothing else. The batch's account transcript (issue 18, one tree update per account)
//! routes the slot-order account accesses into id order with it.
//!
//! The network for `n` rows: `floor(n/2)` input switches, a top network of `floor(n/2)` rows and a
//! bottom one of `ceil(n/2)`, then `floor(n/2)` output switches; an odd row passes straight to the
//! bottom network and out of it, and for even `n` the last output switch is fixed straight (the
//! "arbitrary size" Waksman saving). That is `n ceil(log2 n) - 2^ceil(log2 n) + 1` switches. Each
//! switch is a witness bit (one booleanity constraint) and one conditional select per row element
//! (the other output is the linear `a + b - out`): `w + 1` constraints for rows of `w` elements.
//!
//! Soundness needs no challenge: every setting of the bits is a permutation of the rows, so the
//! outputs are the inputs reordered, whatever the prover chose. The prover's routing
//! ([`route`]) 2-colors each level's constraint graph (paired inputs and paired outputs must
//! take different sub-networks), which is a union of two matchings and so always colorable.

use ark_r1cs_std::{
    alloc::AllocVar, boolean::Boolean, fields::fp::FpVar, select::CondSelectGadget,
};
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
use zkperp_state::Fr;

/// The number of switches of the network for `n` rows.
pub fn switch_count(n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let log = n.next_power_of_two().trailing_zeros() as usize;
    n * log + 1 - n.next_power_of_two()
}

/// The switch settings that send input row `i` to output row `destination[i]`, in the order the
/// gadget consumes them.
///
/// # Panics
/// When `destination` is not a permutation of `0..n`.
pub fn route(destination: &[usize]) -> Vec<bool> {
    let n = destination.len();
    let mut seen = vec![false; n];
    for &d in destination {
        assert!(d < n && !seen[d], "not a permutation");
        seen[d] = true;
    }
    let mut bits = Vec::with_capacity(switch_count(n));
    route_into(destination, &mut bits);
    bits
}

fn route_into(destination: &[usize], bits: &mut Vec<bool>) {
    let n = destination.len();
    if n <= 1 {
        return;
    }
    if n == 2 {
        bits.push(destination[0] == 1);
        return;
    }
    let half = n / 2;
    let paired = 2 * half;
    let mut source = vec![0; n];
    for (i, &d) in destination.iter().enumerate() {
        source[d] = i;
    }
    // bottom[i]: whether input row i takes the bottom network.
    let mut bottom: Vec<Option<bool>> = vec![None; n];
    let color = |start: usize, to_bottom: bool, bottom: &mut Vec<Option<bool>>| {
        let mut work = vec![(start, to_bottom)];
        while let Some((i, b)) = work.pop() {
            match bottom[i] {
                Some(c) => {
                    debug_assert_eq!(c, b, "the constraint graph is 2-colorable");
                    continue;
                }
                None => bottom[i] = Some(b),
            }
            if i < paired {
                work.push((i ^ 1, !b));
            }
            if destination[i] < paired {
                work.push((source[destination[i] ^ 1], !b));
            }
        }
    };
    if !n.is_multiple_of(2) {
        // The unpaired input and the row bound for the unpaired output both pass the bottom
        // network: they are the two ends of one path of even length, so this is consistent.
        color(n - 1, true, &mut bottom);
        color(source[n - 1], true, &mut bottom);
    } else {
        // The last output switch is fixed straight: its top input is output n - 2.
        color(source[n - 2], false, &mut bottom);
    }
    for i in 0..n {
        if bottom[i].is_none() {
            color(i, false, &mut bottom);
        }
    }
    let is_bottom = |i: usize| bottom[i].expect("every row colored");
    let mut top_destination = vec![0; half];
    let mut bottom_destination = vec![0; n - half];
    for k in 0..half {
        bits.push(is_bottom(2 * k));
    }
    for (i, &d) in destination.iter().enumerate() {
        if is_bottom(i) {
            bottom_destination[i / 2] = d / 2;
        } else {
            top_destination[i / 2] = d / 2;
        }
    }
    route_into(&top_destination, bits);
    route_into(&bottom_destination, bits);
    for k in 0..half {
        if n.is_multiple_of(2) && k == half - 1 {
            continue;
        }
        // Swapped when the row from the top network leaves at the odd output.
        bits.push(!is_bottom(source[2 * k + 1]));
    }
}

/// Rows of field elements, all of one width.
pub type Row = Vec<FpVar<Fr>>;

/// The rows reordered by the network, the switch bits allocated as witnesses from `settings`
/// (absent for key generation): output `destination[i]` is input `i` for the `destination`
/// [`route`] was given.
///
/// # Panics
/// When the rows differ in width, or `settings` has the wrong length (a prover bug).
pub fn permute(
    cs: &ConstraintSystemRef<Fr>,
    rows: Vec<Row>,
    settings: Option<&[bool]>,
) -> Result<Vec<Row>, SynthesisError> {
    if let Some(w) = rows.first().map(Vec::len) {
        assert!(rows.iter().all(|r| r.len() == w), "rows of one width");
    }
    if let Some(s) = settings {
        assert_eq!(s.len(), switch_count(rows.len()), "one setting per switch");
    }
    let mut next = settings.map(|s| s.iter().copied());
    let mut bit = || -> Result<Boolean<Fr>, SynthesisError> {
        let value = next.as_mut().map(|it| it.next().expect("counted"));
        Boolean::new_witness(cs.clone(), || {
            value.ok_or(SynthesisError::AssignmentMissing)
        })
    };
    network(rows, &mut bit)
}

/// One switch: `(a, b)` straight or swapped.
fn switch(a: Row, b: Row, swap: &Boolean<Fr>) -> Result<(Row, Row), SynthesisError> {
    let mut top = Vec::with_capacity(a.len());
    let mut bottom = Vec::with_capacity(a.len());
    for (x, y) in a.into_iter().zip(b) {
        let t = FpVar::conditionally_select(swap, &y, &x)?;
        bottom.push(&x + &y - &t);
        top.push(t);
    }
    Ok((top, bottom))
}

fn network(
    rows: Vec<Row>,
    bit: &mut impl FnMut() -> Result<Boolean<Fr>, SynthesisError>,
) -> Result<Vec<Row>, SynthesisError> {
    let n = rows.len();
    if n <= 1 {
        return Ok(rows);
    }
    if n == 2 {
        let mut it = rows.into_iter();
        let (a, b) = (it.next().expect("two"), it.next().expect("two"));
        let (top, bottom) = switch(a, b, &bit()?)?;
        return Ok(vec![top, bottom]);
    }
    let half = n / 2;
    let mut top_in = Vec::with_capacity(half);
    let mut bottom_in = Vec::with_capacity(n - half);
    let mut it = rows.into_iter();
    for _ in 0..half {
        let (a, b) = (it.next().expect("paired"), it.next().expect("paired"));
        let (top, bottom) = switch(a, b, &bit()?)?;
        top_in.push(top);
        bottom_in.push(bottom);
    }
    bottom_in.extend(it);
    let top_out = network(top_in, bit)?;
    let mut bottom_out = network(bottom_in, bit)?.into_iter();
    let mut out = Vec::with_capacity(n);
    for (k, top) in top_out.into_iter().enumerate() {
        let bottom = bottom_out.next().expect("as many bottom rows");
        if n.is_multiple_of(2) && k == half - 1 {
            out.push(top);
            out.push(bottom);
        } else {
            let (a, b) = switch(top, bottom, &bit()?)?;
            out.push(a);
            out.push(b);
        }
    }
    out.extend(bottom_out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::GR1CSVar;
    use ark_relations::gr1cs::ConstraintSystem;
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn rows(cs: &ConstraintSystemRef<Fr>, n: usize, width: usize) -> Vec<Row> {
        (0..n)
            .map(|i| {
                (0..width)
                    .map(|j| {
                        FpVar::new_witness(cs.clone(), || Ok(Fr::from((1000 * i + j) as u64)))
                            .expect("alloc")
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn routes_every_permutation_it_is_given() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for n in (0..=40).chain([63, 64, 65, 100, 257]) {
            for round in 0..if n <= 8 { 30 } else { 4 } {
                let mut destination: Vec<usize> = (0..n).collect();
                if round > 0 {
                    destination.shuffle(&mut rng);
                }
                let settings = route(&destination);
                assert_eq!(settings.len(), switch_count(n), "n = {n}");
                let cs = ConstraintSystem::<Fr>::new_ref();
                let input = rows(&cs, n, 2);
                let before = cs.num_constraints();
                let output = permute(&cs, input.clone(), Some(&settings)).expect("permute");
                assert_eq!(cs.num_constraints() - before, 3 * switch_count(n));
                for (i, &d) in destination.iter().enumerate() {
                    assert_eq!(
                        output[d]
                            .iter()
                            .map(|x| x.value().expect("v"))
                            .collect::<Vec<_>>(),
                        input[i]
                            .iter()
                            .map(|x| x.value().expect("v"))
                            .collect::<Vec<_>>(),
                        "n = {n}: row {i} to {d}"
                    );
                }
                assert!(cs.is_satisfied().expect("satisfiable?"));
            }
        }
    }

    #[test]
    fn the_switch_count_is_as_waksman() {
        // libsnark's table for small sizes, and the Benes count for powers of two.
        let known = [
            (1, 0),
            (2, 1),
            (3, 3),
            (4, 5),
            (5, 8),
            (6, 11),
            (7, 14),
            (8, 17),
        ];
        for (n, count) in known {
            assert_eq!(switch_count(n), count, "n = {n}");
        }
        assert_eq!(switch_count(1024), 1024 * 10 - 1023);
    }

    #[test]
    fn any_setting_is_a_permutation() {
        // Soundness rests on this: whatever bits the prover picks, the outputs are the inputs
        // reordered (the multiset is kept). The bits are arkworks Booleans, whose allocation
        // enforces booleanity.
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        for n in [5, 8, 13] {
            let settings: Vec<bool> = (0..switch_count(n))
                .map(|_| rand::Rng::gen(&mut rng))
                .collect();
            let cs = ConstraintSystem::<Fr>::new_ref();
            let input = rows(&cs, n, 1);
            let output = permute(&cs, input.clone(), Some(&settings)).expect("permute");
            let mut a: Vec<Fr> = input.iter().map(|r| r[0].value().expect("v")).collect();
            let mut b: Vec<Fr> = output.iter().map(|r| r[0].value().expect("v")).collect();
            a.sort();
            b.sort();
            assert_eq!(a, b);
            assert!(cs.is_satisfied().expect("satisfiable?"));
        }
    }
}
