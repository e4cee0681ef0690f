//! Per-block reduction of scored candidates: the top `k` rows by objective and by acquisition,
//! and the count, mean, sum of squared deviations, min and max of the three scored values, so
//! that only `blocks * (2k + 15)` numbers leave the device. Reference: [`crate::math::TopK`]
//! and the running moments of `simulate` over the same values.

use cubecl::prelude::*;

use super::cube_index;

/// Below every score: marks a taken or absent row.
pub const ABSENT: f32 = -3.0e38;

/// The best `(value, row)` of the cube: larger value first, the smaller row among equals;
/// every unit gets the answer in `best_value[0]`, `best_row[0]`.
#[cube]
fn arg_max<F: Float>(
    best_value: &mut SharedMemory<F>,
    best_row: &mut SharedMemory<u32>,
    value: F,
    row: u32,
) {
    let tid = UNIT_POS_X as usize;
    best_value[tid] = value;
    best_row[tid] = row;
    sync_cube();
    let mut stride = (CUBE_DIM_X / 2) as usize;
    while stride > 0 {
        if tid < stride {
            let v = best_value[tid + stride];
            let r = best_row[tid + stride];
            if v > best_value[tid] || (v == best_value[tid] && r < best_row[tid]) {
                best_value[tid] = v;
                best_row[tid] = r;
            }
        }
        sync_cube();
        stride /= 2;
    }
}

/// Tree sum, min and max of one value per unit, into element 0 of each.
#[cube]
fn sum_min_max<F: Float>(
    sum: &mut SharedMemory<F>,
    low: &mut SharedMemory<F>,
    high: &mut SharedMemory<F>,
) {
    let tid = UNIT_POS_X as usize;
    sync_cube();
    let mut stride = (CUBE_DIM_X / 2) as usize;
    while stride > 0 {
        if tid < stride {
            let s = sum[tid + stride];
            let l = low[tid + stride];
            let h = high[tid + stride];
            sum[tid] += s;
            low[tid] = F::min(low[tid], l);
            high[tid] = F::max(high[tid], h);
        }
        sync_cube();
        stride /= 2;
    }
}

/// Reduces `values` (`[n, 3]`: objective, epistemic std, acquisition) per block of `block`
/// rows, one cube (a power-of-two number of units, at most 256) per block, skipping the rows
/// whose `valid` (`[n]`, read when `masked`) is 0:
///
/// * `top_value`, `top_row`: `[blocks, 2, k]`, the `k` best rows of the block by objective
///   then by acquisition, best first, rows relative to the whole batch; [`ABSENT`] where the
///   block has fewer than `k` rows.
/// * `stats`: `[blocks, 3, 5]`: per value its count, mean, sum of squared deviations from the
///   mean, min and max over the block's valid rows.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn block_top<F: Float>(
    values: &Array<F>,
    valid: &Array<u32>,
    top_value: &mut Array<F>,
    top_row: &mut Array<u32>,
    stats: &mut Array<F>,
    n: u32,
    k: u32,
    #[comptime] block: usize,
    #[comptime] masked: bool,
) {
    let cube = cube_index();
    let tid = UNIT_POS_X as usize;
    let threads = CUBE_DIM_X as usize;
    let n = n as usize;
    let k = k as usize;
    let first = cube * block;
    if first >= n {
        terminate!();
    }
    let mut rows = n - first;
    if rows > block {
        rows = block;
    }
    let mut column = SharedMemory::<F>::new(block);
    let mut best_value = SharedMemory::<F>::new(256usize);
    let mut best_row = SharedMemory::<u32>::new(256usize);
    let mut low = SharedMemory::<F>::new(256usize);
    let mut high = SharedMemory::<F>::new(256usize);

    let mut count = F::cast_from(u32::cast_from(rows));
    if masked {
        let mut i = tid;
        let mut valid_rows = F::new(0.0);
        while i < rows {
            if valid[first + i] != 0 {
                valid_rows += F::new(1.0);
            }
            i += threads;
        }
        best_value[tid] = valid_rows;
        low[tid] = F::new(0.0);
        high[tid] = F::new(0.0);
        sum_min_max::<F>(&mut best_value, &mut low, &mut high);
        count = best_value[0];
        sync_cube();
    }

    for c in 0..3usize {
        // Moments: mean first, then squared deviations (two passes over shared memory).
        let mut i = tid;
        let mut s = F::new(0.0);
        let mut lo = F::new(3.0e38);
        let mut hi = F::new(ABSENT);
        while i < block {
            let mut v = F::new(ABSENT);
            let mut present = i < rows;
            if masked && present {
                present = valid[first + i] != 0;
            }
            if present {
                v = values[(first + i) * 3 + c];
                s += v;
                lo = F::min(lo, v);
                hi = F::max(hi, v);
            }
            column[i] = v;
            i += threads;
        }
        best_value[tid] = s;
        low[tid] = lo;
        high[tid] = hi;
        sum_min_max::<F>(&mut best_value, &mut low, &mut high);
        let mean = best_value[0] / F::max(count, F::new(1.0));
        let lowest = low[0];
        let highest = high[0];
        sync_cube();
        let mut i = tid;
        let mut m2 = F::new(0.0);
        while i < rows {
            if column[i] != F::new(ABSENT) {
                let d = column[i] - mean;
                m2 += d * d;
            }
            i += threads;
        }
        best_value[tid] = m2;
        sum_min_max::<F>(&mut best_value, &mut low, &mut high);
        if tid == 0 {
            let at = (cube * 3 + c) * 5;
            stats[at] = count;
            stats[at + 1] = mean;
            stats[at + 2] = best_value[0];
            stats[at + 3] = lowest;
            stats[at + 4] = highest;
        }
        sync_cube();

        if c != 1 {
            let ranking = c / 2;
            for r in 0..k {
                let mut v = F::new(ABSENT);
                let mut at = 0xFFFF_FFFFu32;
                let mut i = tid;
                while i < rows {
                    if column[i] > v {
                        v = column[i];
                        at = u32::cast_from(i);
                    }
                    i += threads;
                }
                arg_max::<F>(&mut best_value, &mut best_row, v, at);
                if tid == 0 {
                    let out = (cube * 2 + ranking) * k + r;
                    let winner = best_row[0];
                    top_value[out] = best_value[0];
                    if winner == u32::MAX {
                        top_row[out] = u32::MAX;
                    } else {
                        top_row[out] = winner + u32::cast_from(first);
                        column[winner as usize] = F::new(ABSENT);
                    }
                }
                sync_cube();
            }
        }
        sync_cube();
    }
}
