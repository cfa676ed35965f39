"""The ALB's two listeners: :80 only redirects, :443 terminates TLS and answers 404 by default.

The HTTP :80 listener answers every request with a 301 redirect to HTTPS. The
HTTPS :443 listener uses the ACM certificate and a TLS 1.2+ security policy;
its default action is a fixed 404. The rule that forwards to the service is
added in notebook 05.

Regenerate: python diagrams/alb_listeners.py   (writes alb_listeners.png beside this file)
"""

from pathlib import Path

from _common import BOX, MUTED, course_diagram
from diagrams.aws.general import Client
from diagrams.aws.network import ALB
from diagrams.aws.security import CertificateManager

from diagrams import Cluster, Edge, Node

HERE = Path(__file__).resolve().parent


def draw(folder: Path = HERE) -> Path:
    with course_diagram("ALB listeners", folder, "alb_listeners"):
        client = Client("client")
        with Cluster("Application Load Balancer"):
            http = ALB("listener HTTP :80")
            https = ALB("listener HTTPS :443\nTLS 1.2+ policy")
        cert = CertificateManager("ACM certificate")
        not_found = Node("fixed 404", **BOX)
        later = Node("rules added in 05", **{**BOX, "style": "rounded,dashed"}, color=MUTED, fontcolor=MUTED)

        client >> Edge(label="http://") >> http
        http >> Edge(label="redirect 301 → HTTPS", style="dashed") >> https
        client >> Edge(label="https://") >> https
        cert >> Edge(style="dashed") >> https
        https >> Edge(label="default action") >> not_found
        https >> Edge(style="dashed") >> later
    return Path(folder) / "alb_listeners.png"


if __name__ == "__main__":
    print(draw())
