"""k-means++ seeding plus Lloyd iterations, for data-dependent VQ init."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def _sq_dist(x, c):
  """[N,D], [K,D] -> [N,K] squared distances."""
  return (jnp.sum(x * x, 1, keepdims=True) - 2.0 * x @ c.T
          + jnp.sum(c * c, 1)[None])


@functools.partial(jax.jit, static_argnames=("k", "iters"))
def kmeans(key, x, weight, k: int, iters: int = 10):
  """Weighted k-means++ then `iters` Lloyd steps.

  x: [N,D] points; weight: [N] (0 excludes a point, e.g. padding).
  Returns centroids [K,D]. An empty cluster keeps its previous centroid.
  """
  n = x.shape[0]
  k0, key = jax.random.split(key)
  first = jax.random.categorical(k0, jnp.where(weight > 0, 0.0, -jnp.inf))
  cent = jnp.zeros((k, x.shape[1]), x.dtype).at[0].set(x[first])
  d2 = jnp.sum((x - x[first]) ** 2, 1)

  def seed_step(i, carry):
    cent, d2, key = carry
    key, sk = jax.random.split(key)
    p = d2 * weight
    # Fall back to uniform over weighted points if all remaining mass is 0.
    logits = jnp.where(p > 0, jnp.log(jnp.maximum(p, 1e-30)),
                       jnp.where((weight > 0) & (p.sum() <= 0), 0.0, -jnp.inf))
    j = jax.random.categorical(sk, logits)
    cent = cent.at[i].set(x[j])
    d2 = jnp.minimum(d2, jnp.sum((x - x[j]) ** 2, 1))
    return cent, d2, key

  cent, _, _ = jax.lax.fori_loop(1, k, seed_step, (cent, d2, key))

  def lloyd(_, cent):
    d = _sq_dist(x, cent)
    a = jnp.argmin(d, axis=1)
    cnt = jax.ops.segment_sum(weight, a, num_segments=k)
    s = jax.ops.segment_sum(x * weight[:, None], a, num_segments=k)
    return jnp.where(cnt[:, None] > 0, s / jnp.maximum(cnt, 1e-12)[:, None], cent)

  del n
  return jax.lax.fori_loop(0, iters, lloyd, cent)
