/**
 * Ordinary least squares for the few regressors of a savings baseline (p ≤ 4, n ≤ a few hundred
 * months), written out so that a reader can check every step and no dependency is needed.
 *
 * The normal equations XᵀX β = Xᵀy are solved through a thin QR factorisation of X (X = QR by
 * modified Gram–Schmidt, each column orthogonalised twice), so that XᵀX = RᵀR and β = R⁻¹Qᵀy.
 * Forming XᵀX itself would square the condition number: days (≈ 30) and degree-days (0 to 500)
 * differ by orders of magnitude, and a cooling column can be nearly a multiple of another one.
 * The same factorisation tells which column adds nothing: what is left of it after removing its
 * projection on the columns before is ≤ 1e-9 of its length (all zero, or collinear), and it is
 * dropped instead of producing a huge, meaningless coefficient.
 */

export interface LeastSquaresFit {
  /** Indices (into the candidate columns) of the columns kept, in order. */
  kept: number[];
  /** Coefficient of each kept column, in the units of y per unit of that column. */
  coefficients: number[];
  /** Diagonal of (XᵀX)⁻¹ for the kept columns: a coefficient's variance is σ² times its entry. */
  inverseDiagonal: number[];
}

/** Relative length under which a column is taken as a combination of the columns before it. */
const COLLINEAR = 1e-9;

/**
 * The least-squares coefficients of y on the columns (each of y's length), keeping columns in
 * the given order and dropping those that add nothing to the ones kept before them.
 */
export function leastSquares(columns: readonly (readonly number[])[], y: readonly number[]): LeastSquaresFit {
  const q: number[][] = [];
  const kept: number[] = [];
  // r[i][j]: entry of R for kept columns i ≤ j.
  const r: number[][] = [];
  columns.forEach((column, index) => {
    const v = [...column];
    const original = norm(v);
    if (original === 0) return;
    const projections = q.map(() => 0);
    for (let pass = 0; pass < 2; pass++) {
      q.forEach((qi, i) => {
        const c = dot(qi, v);
        projections[i]! += c;
        for (let k = 0; k < v.length; k++) v[k]! -= c * qi[k]!;
      });
    }
    const rest = norm(v);
    if (rest <= COLLINEAR * original) return;
    projections.forEach((c, i) => (r[i]![q.length] = c));
    r.push([]);
    r[q.length]![q.length] = rest;
    q.push(v.map((x) => x / rest));
    kept.push(index);
  });
  const p = q.length;
  const qty = q.map((qi) => dot(qi, y));
  const coefficients = backSubstitute(r, qty);
  // (XᵀX)⁻¹ = R⁻¹R⁻ᵀ: the diagonal is the squared length of each row of R⁻¹.
  const rInverse = Array.from({ length: p }, (_, j) => backSubstitute(r, unit(p, j)));
  const inverseDiagonal = Array.from({ length: p }, (_, i) => rInverse.reduce((s, column) => s + column[i]! ** 2, 0));
  return { kept, coefficients, inverseDiagonal };
}

/** x with R x = b, R upper triangular (entries r[i][j], j ≥ i). */
function backSubstitute(r: readonly (readonly number[])[], b: readonly number[]): number[] {
  const p = b.length;
  const x = new Array<number>(p).fill(0);
  for (let i = p - 1; i >= 0; i--) {
    let s = b[i]!;
    for (let j = i + 1; j < p; j++) s -= r[i]![j]! * x[j]!;
    x[i] = s / r[i]![i]!;
  }
  return x;
}

function unit(p: number, j: number): number[] {
  return Array.from({ length: p }, (_, i) => (i === j ? 1 : 0));
}

function dot(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function norm(a: readonly number[]): number {
  // Scaled, so that large energies (10⁸ kWh²) cannot overflow nor tiny ones underflow.
  const scale = a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  if (scale === 0) return 0;
  return scale * Math.sqrt(a.reduce((s, x) => s + (x / scale) ** 2, 0));
}
