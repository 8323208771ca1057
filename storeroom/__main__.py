from storeroom.cli import main

main(prog_name="storeroom")
