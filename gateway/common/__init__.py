"""Small pieces every part of Sluis uses, importing nothing of Sluis itself: the gateway,
the admission worker, the backends (the booking engine too) and the tools all import
them downward. Nothing here may import gateway, queue_worker or backends modules."""
