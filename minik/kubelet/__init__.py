"""Node agents: the bottom of the flow, talking to the API only through a Client. For now the simulated
node agent (`simulated.py`, like KWOK); the Docker-backed kubelet comes later."""
