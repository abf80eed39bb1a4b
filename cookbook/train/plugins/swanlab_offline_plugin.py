"""ms-swift plugin (--external_plugins): SwanLab in offline mode.

ms-swift 4.6 accepts only ``--swanlab_mode cloud|local``; offline (log now, ``swanlab sync``
later, never touching the network) is added here as a callback, ``--callbacks
cookbook_swanlab_offline``. The run is written to ``<output_dir>/swanlog``.
"""

import os

from swanlab.integration.transformers import SwanLabCallback
from swift.callbacks import callbacks_map


class OfflineSwanLab(SwanLabCallback):
    def __init__(self, args, trainer):
        super().__init__(project=os.environ.get("COOKBOOK_SWANLAB_PROJECT", "distill-cookbook"),
                         experiment_name=os.path.basename(os.path.normpath(args.output_dir)),
                         log_dir=os.path.join(args.output_dir, "swanlog"), mode="offline")


callbacks_map["cookbook_swanlab_offline"] = OfflineSwanLab
