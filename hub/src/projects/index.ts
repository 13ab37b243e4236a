/**
 * The pure computations of a project's return (no database, no HTTP): its measured energy
 * savings (IPMVP option C with an ASHRAE Guideline 14 baseline, or the same months before),
 * the before/after comparison of a project that saves no energy, its financial return, and the
 * prices and emission factors that turn kWh into € and kgCO2e.
 */
export * from './savings-model.js';
export * from './before-after.js';
export * from './finance.js';
export * from './prices.js';
export { MAX_PERIODS } from './input-error.js';
export { studentTQuantile, studentTCdf } from './student-t.js';
