import type { Scenario } from './harness';
import { killScenario } from './kill';
import { killPowerCutScenario } from './kill-power-cut';
import { powerCutScenario, rollScenario } from './power-cut';
import { bitFlipScenario, tornTailScenario } from './tail-damage';
import { enospcScenario, fsyncScenario, nthScenario } from './io-faults';

/** Every scenario of the crash and fault suite, in the order issue 4 lists them. */
export const SCENARIOS: readonly Scenario[] = [
  killScenario, powerCutScenario, tornTailScenario, rollScenario, fsyncScenario, nthScenario, bitFlipScenario, enospcScenario, killPowerCutScenario,
];
