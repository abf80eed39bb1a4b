"""White-box (logits) distillation: online through ms-swift GKD, offline from a top-k store.

* :mod:`cookbook.kd.samples`       rows -> the exact token ids the student sees, by sample id
* :mod:`cookbook.kd.store`         the top-k store: bit-packed ids + fp16 log-probs, memory-mapped
* :mod:`cookbook.kd.teacher_pass`  the teacher scores the training set once (transformers / vLLM)
* :mod:`cookbook.kd.loss`          forward / reverse KL and generalized JSD over top-k + tail, chunked
* :mod:`cookbook.kd.trainer`       the offline KD trainer (why not ms-swift: see its docstring)
* :mod:`cookbook.kd.gkd`           online GKD job for ms-swift, through cookbook.train's launcher
* :mod:`cookbook.kd.vocab`         the one-vocabulary check, before any compute
* :mod:`cookbook.kd.kl`            KL(teacher || student) and back, measured on held-out chains
* :mod:`cookbook.kd.stage`         notebook 04's glue: recipe + manifest -> jobs, metrics
"""
