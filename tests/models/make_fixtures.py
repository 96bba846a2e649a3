# Writes tests/models/torchvision_names.txt: the parameter and buffer names and shapes of
# torchvision models, in torchvision's order, for models_test.cc to compare our builders with.
# Run: python tests/models/make_fixtures.py  (needs torch and torchvision)
import os

import torchvision.models as M

MODELS = {
    "resnet50": lambda: M.resnet50(),
    "googlenet": lambda: M.googlenet(aux_logits=False, init_weights=False),
}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torchvision_names.txt")
with open(out, "w") as f:
    f.write("# model kind name shape (from make_fixtures.py)\n")
    for model, make in MODELS.items():
        m = make()
        for name, p in m.named_parameters():
            f.write(f"{model} param {name} {','.join(map(str, p.shape))}\n")
        for name, b in m.named_buffers():
            if not name.endswith("num_batches_tracked"):
                f.write(f"{model} buffer {name} {','.join(map(str, b.shape))}\n")
