"""How the course runs: a notebook drives Terraform and boto3 against one AWS.

Regenerate: python diagrams/course_toolchain.py   (writes course_toolchain.png beside this file)
"""

from pathlib import Path

from diagrams.aws.general import Client
from diagrams.onprem.client import User
from diagrams.onprem.iac import Terraform
from diagrams.programming.language import Python

from diagrams import Cluster, Diagram, Edge

HERE = Path(__file__).resolve().parent


def draw(folder: Path = HERE) -> Path:
    out = folder / "course_toolchain"
    with Diagram(
        "How the course runs",
        filename=str(out),
        outformat="png",
        show=False,
        graph_attr={"pad": "0.3", "fontsize": "20"},
    ):
        learner = User("you, in JupyterLab")
        with Cluster("a notebook cell"):
            tf = Terraform("Terraform 1.15\n+ AWS provider 3.39")
            check = Python("boto3 check")
        with Cluster("target (one at a time)"):
            emulator = Client("local emulator (moto)\ndefault, free, offline")
            real = Client("real AWS\nopt-in, costs money")
        learner >> Edge(label="HCL") >> tf
        learner >> Edge(label="assert") >> check
        tf >> emulator
        check >> emulator
        tf >> Edge(style="dashed") >> real
        check >> Edge(style="dashed") >> real
    return out.with_suffix(".png")


if __name__ == "__main__":
    print(draw())
