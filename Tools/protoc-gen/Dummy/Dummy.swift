// Placeholder target so the package builds its generator dependencies.
