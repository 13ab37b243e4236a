// Structured JSON logs, one line per event: one home in the SDK for every CityPilot process.
export { createLogger } from '@citypilot/sdk';
