import { describe, expect, it } from 'vitest';
import { deadLetterStream, deadLetterSubject, defaultStreamNames, subjects } from './subjects.js';

describe('subjects', () => {
  it('reads the sending gateway from a telemetry subject, and nothing from other subjects', () => {
    const subj = subjects('city');
    expect(subj.telemetryGateway(subj.telemetry('town-hall'))).toBe('town-hall');
    expect(subj.telemetryGateway('city.telemetry.town-hall.extra')).toBeUndefined();
    expect(subj.telemetryGateway('city.telemetry.')).toBeUndefined();
    expect(subj.telemetryGateway('other.telemetry.town-hall')).toBeUndefined();
    expect(subj.telemetryGateway('city.config.town-hall')).toBeUndefined();
  });

  it('names the dead-letter stream and subject after the deployment', () => {
    expect(deadLetterStream(defaultStreamNames)).toBe('CITYPILOT_TELEMETRY_DEADLETTER');
    expect(deadLetterSubject(defaultStreamNames)).toBe('citypilot.deadletter.telemetry');
  });
});
