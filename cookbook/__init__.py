"""distill-cookbook: all the logic behind the notebooks, tested on CPU.

The package, from the notebooks down (an arrow: "may import"):

    rehearsal  `make rehearse`: a GPU recipe's notebooks on this CPU, under a declared overlay
               (the R1 API look-alike, hub dataset stand-ins, the Qwen3 stand-in)
    plan       `python -m cookbook.plan`: every command a recipe will run, built by the stages'
               own functions, with memory's GPU estimate per stage; runs nothing
    gallery    `make gallery`: docs/executed/, a demo run's executed notebooks and their HTML,
               checked against the committed code, without the machine's paths or secrets
        |
        v
    notebooks/NN_*.ipynb  (and cookbook.notebooks, the papermill runner of `make demo`)
        |
        v
    train   black-box SFT, DPO / CogPO, GRPO with ms-swift: flags from the recipe (args),
            the launcher, plugins, rewards, GRPO's frontier, export / chat, measurements
    kd      white-box KD: teacher pass, top-k store, sparse losses, the own trainer; GKD is
            an ms-swift job built on train's launcher (kd -> train)
    eval    evalscope runs (runner), protocol, results, the comparison report; quick.py, the
            in-process scorer every training stage measures with
        |
        v
    teacher OpenAI-compatible client (concurrency, retries, cache, several endpoints, shards),
            local servers and vLLM's accepted flags
    data    prompts, answers and verification, judges, selection, loaders, ms-swift writers
    toy     the tiny world: problems, tokenizer, toy models, benchmark folders
        |
        v
    session  recipe  serving  memory  run  jobs  procs  hub  io  paths  plots  environment
             (the first and last cell; the validated recipe and every default; each model's
             reasoning parser, template and thinking mode; the GPU memory estimate; the run directory
             and its manifest; the one runner of training jobs; child processes; model resolution
             and offline mode; atomic writes and hashes; where things live)

Each package has one ``stage`` module for its notebook(s): the calls a notebook makes, built
from the recipe and the run manifest. Known exceptions to the arrows, kept until the code
moves: ``toy`` scores its world with ``eval.quick`` (an edit under toy/ rebuilds the world),
``hub`` resolves ``tiny-world:`` references through ``toy`` (a late import).

Data flow: one run directory per run, ``runs/<name>/``. Every notebook takes ``recipe`` and
``run_dir``; it reads its inputs from ``manifest.json`` (``session.run.input(stage, name)``),
writes its outputs atomically into its stage folder and records them with their content
hashes (``session.run.record``):

    setup (00) -> teacher (01) -> data (02) -> sft (03) -> kd (04), preference (05), grpo (06)
                                                       -> eval (07): every model* output above
"""
