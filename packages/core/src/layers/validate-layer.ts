import { InvalidArgumentError } from '../errors';
import { assertFinite, assertFloat32Array, assertInteger, checkedProduct } from '../util/assert';
import { validatePackedSigns } from './packed-signs';
import type { LinearLayer } from './types';

/**
 * Checks that a layer is internally consistent: dimensions, array lengths, sign padding and finite
 * scales. Backends call this in `uploadLinear`, so a bad layer fails early with a precise message.
 */
export function validateLayer(layer: LinearLayer, name = 'layer'): LinearLayer {
  if (typeof layer !== 'object' || layer === null)
    throw new InvalidArgumentError(`${name} must be a layer object.`);
  const n = assertInteger(`${name}.outFeatures`, layer.outFeatures, 1);
  const m = assertInteger(`${name}.inFeatures`, layer.inFeatures, 1);
  switch (layer.kind) {
    case 'dense': {
      assertFloat32Array(`${name}.weight`, layer.weight, checkedProduct(`${name} size`, [n, m]));
      break;
    }
    case 'dbf': {
      const k = assertInteger(`${name}.rank`, layer.rank, 1);
      validatePackedSigns(`${name}.signA`, layer.signA, n, k);
      validatePackedSigns(`${name}.signB`, layer.signB, k, m);
      assertFinite(`${name}.scaleA`, assertFloat32Array(`${name}.scaleA`, layer.scaleA, n));
      assertFinite(`${name}.scaleMid`, assertFloat32Array(`${name}.scaleMid`, layer.scaleMid, k));
      assertFinite(`${name}.scaleB`, assertFloat32Array(`${name}.scaleB`, layer.scaleB, m));
      break;
    }
    case 'mdbf': {
      const k = assertInteger(`${name}.rank`, layer.rank, 1);
      const l = assertInteger(`${name}.envelopeRank`, layer.envelopeRank, 1);
      validatePackedSigns(`${name}.signA`, layer.signA, n, k);
      validatePackedSigns(`${name}.signB`, layer.signB, k, m);
      assertFinite(`${name}.envA`, assertFloat32Array(`${name}.envA`, layer.envA, n * l));
      assertFinite(`${name}.envQU`, assertFloat32Array(`${name}.envQU`, layer.envQU, k * l));
      assertFinite(`${name}.envQV`, assertFloat32Array(`${name}.envQV`, layer.envQV, k * l));
      assertFinite(`${name}.envB`, assertFloat32Array(`${name}.envB`, layer.envB, m * l));
      break;
    }
    default:
      throw new InvalidArgumentError(
        `${name}.kind must be 'dbf', 'mdbf' or 'dense', got ${JSON.stringify((layer as { kind: unknown }).kind)}.`,
      );
  }
  if (layer.bias !== undefined)
    assertFinite(`${name}.bias`, assertFloat32Array(`${name}.bias`, layer.bias, n));
  return layer;
}
