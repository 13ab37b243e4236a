/**
 * BACnet engineering units (the BACnetEngineeringUnits enumeration of ASHRAE 135, the `units`
 * property of analog objects and the unit-code column of EDE files) as CityPilot writes them.
 *
 * Only the units met in buildings are listed, each with the symbol a CityPilot point's `unit`
 * takes (the same UCUM-like symbols as the other plugins: `°C`, `kWh`, `m3/h`) and the quantity
 * it measures, from which draft points get their tags. A code not listed here is not an error:
 * the draft point gets no unit and the technician a note naming the code.
 */

/** What a unit measures; {@link ./draft.ts} turns it into Haystack-style tags. */
export type UnitQuantity =
  | 'temp'
  | 'temp-delta'
  | 'humidity'
  | 'energy'
  | 'reactive-energy'
  | 'apparent-energy'
  | 'power'
  | 'reactive-power'
  | 'apparent-power'
  | 'pf'
  | 'volt'
  | 'current'
  | 'freq'
  | 'pressure'
  | 'flow'
  | 'volume'
  | 'mass'
  | 'mass-flow'
  | 'concentration'
  | 'ratio'
  | 'illuminance'
  | 'speed'
  | 'duration'
  | 'angle'
  | 'rotation'
  | 'length'
  | 'area'
  | 'sound'
  | 'ph'
  | 'degree-days';

export interface BacnetUnit {
  /** The enumeration's number, as in the `units` property and an EDE file's unit-code column. */
  code: number;
  /** The standard's name for it (ASHRAE 135, clause 21), such as `degrees-celsius`. */
  name: string;
  /** The point's `unit` in CityPilot; absent for dimensionless values (power factor, no-units). */
  symbol?: string;
  quantity?: UnitQuantity;
}

// Sorted by code. The numbers come from ASHRAE 135's BACnetEngineeringUnits; a test checks each
// name against the enumeration of the BACnet library the protocol package uses.
const UNITS: readonly BacnetUnit[] = [
  { code: 0, name: 'square-meters', symbol: 'm2', quantity: 'area' },
  { code: 2, name: 'milliamperes', symbol: 'mA', quantity: 'current' },
  { code: 3, name: 'amperes', symbol: 'A', quantity: 'current' },
  { code: 4, name: 'ohms', symbol: 'Ω' },
  { code: 5, name: 'volts', symbol: 'V', quantity: 'volt' },
  { code: 6, name: 'kilovolts', symbol: 'kV', quantity: 'volt' },
  { code: 8, name: 'volt-amperes', symbol: 'VA', quantity: 'apparent-power' },
  { code: 9, name: 'kilovolt-amperes', symbol: 'kVA', quantity: 'apparent-power' },
  { code: 10, name: 'megavolt-amperes', symbol: 'MVA', quantity: 'apparent-power' },
  { code: 11, name: 'volt-amperes-reactive', symbol: 'var', quantity: 'reactive-power' },
  { code: 12, name: 'kilovolt-amperes-reactive', symbol: 'kvar', quantity: 'reactive-power' },
  { code: 13, name: 'megavolt-amperes-reactive', symbol: 'Mvar', quantity: 'reactive-power' },
  { code: 14, name: 'degrees-phase', symbol: '°', quantity: 'angle' },
  { code: 15, name: 'power-factor', quantity: 'pf' },
  { code: 16, name: 'joules', symbol: 'J', quantity: 'energy' },
  { code: 17, name: 'kilojoules', symbol: 'kJ', quantity: 'energy' },
  { code: 18, name: 'watt-hours', symbol: 'Wh', quantity: 'energy' },
  { code: 19, name: 'kilowatt-hours', symbol: 'kWh', quantity: 'energy' },
  { code: 20, name: 'btus', symbol: 'BTU', quantity: 'energy' },
  { code: 27, name: 'hertz', symbol: 'Hz', quantity: 'freq' },
  { code: 28, name: 'grams-of-water-per-kilogram-dry-air', symbol: 'g/kg', quantity: 'humidity' },
  { code: 29, name: 'percent-relative-humidity', symbol: '%RH', quantity: 'humidity' },
  { code: 30, name: 'millimeters', symbol: 'mm', quantity: 'length' },
  { code: 31, name: 'meters', symbol: 'm', quantity: 'length' },
  { code: 35, name: 'watts-per-square-meter', symbol: 'W/m2' },
  { code: 36, name: 'lumens', symbol: 'lm' },
  { code: 37, name: 'luxes', symbol: 'lx', quantity: 'illuminance' },
  { code: 39, name: 'kilograms', symbol: 'kg', quantity: 'mass' },
  { code: 41, name: 'tons', symbol: 't', quantity: 'mass' },
  { code: 42, name: 'kilograms-per-second', symbol: 'kg/s', quantity: 'mass-flow' },
  { code: 44, name: 'kilograms-per-hour', symbol: 'kg/h', quantity: 'mass-flow' },
  { code: 47, name: 'watts', symbol: 'W', quantity: 'power' },
  { code: 48, name: 'kilowatts', symbol: 'kW', quantity: 'power' },
  { code: 49, name: 'megawatts', symbol: 'MW', quantity: 'power' },
  { code: 50, name: 'btus-per-hour', symbol: 'BTU/h', quantity: 'power' },
  { code: 53, name: 'pascals', symbol: 'Pa', quantity: 'pressure' },
  { code: 54, name: 'kilopascals', symbol: 'kPa', quantity: 'pressure' },
  { code: 55, name: 'bars', symbol: 'bar', quantity: 'pressure' },
  { code: 56, name: 'pounds-force-per-square-inch', symbol: 'psi', quantity: 'pressure' },
  { code: 57, name: 'centimeters-of-water', symbol: 'cmH2O', quantity: 'pressure' },
  { code: 62, name: 'degrees-celsius', symbol: '°C', quantity: 'temp' },
  { code: 63, name: 'degrees-kelvin', symbol: 'K', quantity: 'temp' },
  { code: 64, name: 'degrees-fahrenheit', symbol: '°F', quantity: 'temp' },
  { code: 65, name: 'degree-days-celsius', symbol: '°C·d', quantity: 'degree-days' },
  { code: 67, name: 'years', symbol: 'a', quantity: 'duration' },
  { code: 68, name: 'months', symbol: 'mo', quantity: 'duration' },
  { code: 69, name: 'weeks', symbol: 'wk', quantity: 'duration' },
  { code: 70, name: 'days', symbol: 'd', quantity: 'duration' },
  { code: 71, name: 'hours', symbol: 'h', quantity: 'duration' },
  { code: 72, name: 'minutes', symbol: 'min', quantity: 'duration' },
  { code: 73, name: 'seconds', symbol: 's', quantity: 'duration' },
  { code: 74, name: 'meters-per-second', symbol: 'm/s', quantity: 'speed' },
  { code: 75, name: 'kilometers-per-hour', symbol: 'km/h', quantity: 'speed' },
  { code: 80, name: 'cubic-meters', symbol: 'm3', quantity: 'volume' },
  { code: 82, name: 'liters', symbol: 'l', quantity: 'volume' },
  { code: 84, name: 'cubic-feet-per-minute', symbol: 'cfm', quantity: 'flow' },
  { code: 85, name: 'cubic-meters-per-second', symbol: 'm3/s', quantity: 'flow' },
  { code: 87, name: 'liters-per-second', symbol: 'l/s', quantity: 'flow' },
  { code: 88, name: 'liters-per-minute', symbol: 'l/min', quantity: 'flow' },
  { code: 89, name: 'us-gallons-per-minute', symbol: 'gpm', quantity: 'flow' },
  { code: 90, name: 'degrees-angular', symbol: '°', quantity: 'angle' },
  { code: 91, name: 'degrees-celsius-per-hour', symbol: '°C/h' },
  { code: 92, name: 'degrees-celsius-per-minute', symbol: '°C/min' },
  { code: 95, name: 'no-units' },
  { code: 96, name: 'parts-per-million', symbol: 'ppm', quantity: 'concentration' },
  { code: 97, name: 'parts-per-billion', symbol: 'ppb', quantity: 'concentration' },
  { code: 98, name: 'percent', symbol: '%', quantity: 'ratio' },
  { code: 100, name: 'per-minute', symbol: '/min' },
  { code: 101, name: 'per-second', symbol: '/s' },
  { code: 104, name: 'revolutions-per-minute', symbol: 'rpm', quantity: 'rotation' },
  { code: 118, name: 'centimeters', symbol: 'cm', quantity: 'length' },
  { code: 121, name: 'delta-degrees-kelvin', symbol: 'K', quantity: 'temp-delta' },
  { code: 122, name: 'kilohms', symbol: 'kΩ' },
  { code: 124, name: 'millivolts', symbol: 'mV', quantity: 'volt' },
  { code: 125, name: 'kilojoules-per-kilogram', symbol: 'kJ/kg' },
  { code: 126, name: 'megajoules', symbol: 'MJ', quantity: 'energy' },
  { code: 131, name: 'per-hour', symbol: '/h' },
  { code: 132, name: 'milliwatts', symbol: 'mW', quantity: 'power' },
  { code: 133, name: 'hectopascals', symbol: 'hPa', quantity: 'pressure' },
  { code: 134, name: 'millibars', symbol: 'mbar', quantity: 'pressure' },
  { code: 135, name: 'cubic-meters-per-hour', symbol: 'm3/h', quantity: 'flow' },
  { code: 136, name: 'liters-per-hour', symbol: 'l/h', quantity: 'flow' },
  { code: 137, name: 'kilowatt-hours-per-square-meter', symbol: 'kWh/m2' },
  { code: 141, name: 'watts-per-square-meter-degree-kelvin', symbol: 'W/(m2·K)' },
  { code: 146, name: 'megawatt-hours', symbol: 'MWh', quantity: 'energy' },
  { code: 149, name: 'kilojoules-per-kilogram-dry-air', symbol: 'kJ/kg' },
  { code: 154, name: 'grams-per-second', symbol: 'g/s', quantity: 'mass-flow' },
  { code: 156, name: 'tons-per-hour', symbol: 't/h', quantity: 'mass-flow' },
  { code: 158, name: 'hundredths-seconds', symbol: 'cs', quantity: 'duration' },
  { code: 159, name: 'milliseconds', symbol: 'ms', quantity: 'duration' },
  { code: 163, name: 'meters-per-minute', symbol: 'm/min', quantity: 'speed' },
  { code: 165, name: 'cubic-meters-per-minute', symbol: 'm3/min', quantity: 'flow' },
  { code: 186, name: 'kilograms-per-cubic-meter', symbol: 'kg/m3' },
  { code: 193, name: 'kilometers', symbol: 'km', quantity: 'length' },
  { code: 195, name: 'grams', symbol: 'g', quantity: 'mass' },
  { code: 197, name: 'milliliters', symbol: 'ml', quantity: 'volume' },
  { code: 198, name: 'milliliters-per-second', symbol: 'ml/s', quantity: 'flow' },
  { code: 199, name: 'decibels', symbol: 'dB', quantity: 'sound' },
  { code: 203, name: 'watt-hours-reactive', symbol: 'varh', quantity: 'reactive-energy' },
  { code: 204, name: 'kilowatt-hours-reactive', symbol: 'kvarh', quantity: 'reactive-energy' },
  { code: 205, name: 'megawatt-hours-reactive', symbol: 'Mvarh', quantity: 'reactive-energy' },
  { code: 206, name: 'millimeters-of-water', symbol: 'mmH2O', quantity: 'pressure' },
  { code: 207, name: 'per-mille', symbol: '‰', quantity: 'ratio' },
  { code: 210, name: 'grams-per-kilogram', symbol: 'g/kg' },
  { code: 215, name: 'milligrams-per-liter', symbol: 'mg/l', quantity: 'concentration' },
  { code: 218, name: 'milligrams-per-cubic-meter', symbol: 'mg/m3', quantity: 'concentration' },
  { code: 219, name: 'micrograms-per-cubic-meter', symbol: 'µg/m3', quantity: 'concentration' },
  { code: 232, name: 'decibels-a', symbol: 'dBA', quantity: 'sound' },
  { code: 233, name: 'nephelometric-turbidity-unit', symbol: 'NTU' },
  { code: 234, name: 'ph', symbol: 'pH', quantity: 'ph' },
  { code: 239, name: 'volt-ampere-hours', symbol: 'VAh', quantity: 'apparent-energy' },
  { code: 240, name: 'kilovolt-ampere-hours', symbol: 'kVAh', quantity: 'apparent-energy' },
  { code: 241, name: 'megavolt-ampere-hours', symbol: 'MVAh', quantity: 'apparent-energy' },
  { code: 249, name: 'cubic-meters-per-day', symbol: 'm3/d', quantity: 'flow' },
];

const BY_CODE = new Map(UNITS.map((u) => [u.code, u]));

/** The units CityPilot knows, sorted by code (for the README's table and its test). */
export function bacnetUnits(): readonly BacnetUnit[] {
  return UNITS;
}

/** The unit with this BACnetEngineeringUnits number, or undefined when CityPilot has no symbol for it. */
export function bacnetUnit(code: number): BacnetUnit | undefined {
  return BY_CODE.get(code);
}

/** BACnetEngineeringUnits' `no-units`: a unitless value, not an unknown unit. */
export const NO_UNITS = 95;
