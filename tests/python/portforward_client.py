"""Port-forward through the official Python client (WebSocket channel protocol): send an HTTP
request to port argv[2] of pod argv[1] in the cluster of $KUBECONFIG and print the response
body; for a port nothing listens on, print the error the server reported."""
import sys

from kubernetes import client, config
from kubernetes.stream import portforward

config.load_kube_config()
api = client.CoreV1Api()
port = int(sys.argv[2])
pf = portforward(
    api.connect_get_namespaced_pod_portforward,
    sys.argv[1],
    "default",
    ports=str(port),
)
sock = pf.socket(port)
sock.settimeout(20)
data = b""
try:
    sock.sendall(b"GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n")
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
except OSError:
    # The client closes the local socket when the server reports an error.
    pass
sock.close()
error = pf.error(port)
if error:
    print("error:", error)
else:
    print(data.split(b"\r\n\r\n", 1)[-1].decode().strip())
