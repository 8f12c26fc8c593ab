from django.shortcuts import render

from .decorators import member_required


@member_required("view")
def home(request):
    return render(request, "console/home.html", {})
