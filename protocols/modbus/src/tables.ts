/** The four Modbus data tables. */
export type RegisterTable = 'holding' | 'input';
export type BitTable = 'coil' | 'discrete';
export type Table = RegisterTable | BitTable;

export const TABLES: readonly Table[] = ['holding', 'input', 'coil', 'discrete'];

/** Coils and discrete inputs hold single bits; holding and input registers hold 16-bit words. */
export function isBitTable(table: Table): table is BitTable {
  return table === 'coil' || table === 'discrete';
}

/** Largest quantities one request may carry (Modbus Application Protocol v1.1b3, §6). */
export const PROTOCOL_LIMITS = {
  /** FC 3 and 4. */
  readRegisters: 125,
  /** FC 1 and 2. */
  readBits: 2000,
  /** FC 16. */
  writeRegisters: 123,
  /** FC 15. */
  writeCoils: 1968,
} as const;
